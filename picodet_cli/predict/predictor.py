"""`Detector`: the end-user inference API (image in, named boxes out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.coco_names import COCO_CLASSES
from ..defaults import PREDICT_SCORE_THRESHOLD
from ..errors import PicodetError

ImageLike = str | Path | bytes | np.ndarray


@dataclass(frozen=True)
class Detection:
    class_id: int
    name: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original-image pixels


@dataclass
class Prediction:
    """Detections for one image."""

    source: str | None
    width: int
    height: int
    detections: list[Detection] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.source,
            "width": self.width,
            "height": self.height,
            "detections": [asdict(d) | {"box": list(d.box)} for d in self.detections],
        }


class Detector:
    """Run a PicoDet model on images.

    `model` is a zoo name (its official weights are pulled into the cache when needed), an
    architecture name with `weights=`, an already built PicoDet layer, or the path of an exported
    artifact (any `picodet export` format, or a PaddleDetection v1 ONNX), run by its runtime.
    """

    def __init__(
        self,
        model: Any,
        weights: str | Path | None = None,
        *,
        class_names: list[str] | None = None,
        score_threshold: float = PREDICT_SCORE_THRESHOLD,
        input_size: int | None = None,
        strict: bool = True,
        cache_dir: str | Path | None = None,
    ) -> None:
        if isinstance(model, str | Path) and _is_artifact(model, weights):
            from ..runtimes.model import RuntimeModel

            model = RuntimeModel(model)
            self.load_report = None
            if input_size is not None and (input_size, input_size) != model.input_size:
                raise PicodetError(
                    f"{model.artifact.path} was exported for input {list(model.input_size)}, not {input_size}",
                    "drop the input size or export again with --imgsz",
                )
        elif isinstance(model, str | Path):
            from ..models.pretrained import create_model

            loaded = create_model(str(model), weights, input_size=input_size, strict=strict, cache_dir=cache_dir)
            model = loaded.model
            self.load_report = loaded.report
            class_names = class_names or loaded.class_names
        else:
            self.load_report = None
        model.eval()
        self.model = model
        self.input_size = input_size or model.input_size
        self.score_threshold = score_threshold
        names = class_names or getattr(model, "class_names", None)  # artifacts carry theirs
        self.class_names = list(names) if names else default_class_names(model.num_classes)

    def predict(self, image: ImageLike) -> Prediction:
        """Detect objects in one image (a path, encoded bytes, or a BGR array)."""
        from ..data.transforms import preprocess, read_image

        source = str(image) if isinstance(image, str | Path) else None
        bgr = image if isinstance(image, np.ndarray) else read_image(image)
        tensor, im_shape, scale_factor = preprocess(bgr, self.input_size)
        bbox, _ = self.model.detect(tensor, im_shape, scale_factor)
        detections = [
            Detection(int(row[0]), self.class_names[int(row[0])], float(row[1]), tuple(float(v) for v in row[2:6]))
            for row in np.asarray(bbox)
            if row[1] >= self.score_threshold
        ]
        detections.sort(key=lambda d: -d.score)
        return Prediction(source, int(bgr.shape[1]), int(bgr.shape[0]), detections)


def _is_artifact(model: str | Path, weights: str | Path | None) -> bool:
    """Whether `model` is the path of an exported model (then `weights` must not be given)."""
    from ..runtimes.registry import looks_like_artifact

    if not looks_like_artifact(model):
        return False
    if weights is not None:
        raise PicodetError(f"{model} is an exported model: it already holds its weights", "drop --weights")
    return True


def default_class_names(num_classes: int) -> list[str]:
    """COCO names for 80-class models, `class_<i>` otherwise."""
    return list(COCO_CLASSES) if num_classes == len(COCO_CLASSES) else [f"class_{i}" for i in range(num_classes)]
