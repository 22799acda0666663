"""A runtime-backed detector model: any exported artifact, used like a PicoDet layer by `Detector`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PicodetError
from ..models.generations import DEFAULT_GENERATION, get_generation
from .registry import Artifact, locate_artifact, open_runtime


def _sidecar(artifact: Artifact) -> dict[str, Any]:
    from ..export.metadata import read_sidecar

    meta = read_sidecar(artifact.path.parent)
    if meta is None:
        raise PicodetError(f"{artifact.path.parent} has no picodet.json", "export the model with `picodet export`")
    return meta


def _onnx_metadata(runtime: Any) -> dict[str, Any]:
    """Embedded metadata, or for a metadata-less ONNX (a PaddleDetection export) metadata inferred from shapes."""
    from ..export.metadata import infer_metadata, read_onnx_metadata

    meta = read_onnx_metadata(runtime.metadata())
    return meta if meta is not None else infer_metadata(*runtime.shapes(), input_names=runtime.input_names())


def _bbox_outputs(outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(`bbox` [K, 6], `bbox_num` [N]) of an in-graph NMS, in either output order."""
    bbox = next(o for o in outputs if np.ndim(o) == 2)
    num = next(o for o in outputs if np.ndim(o) == 1)
    return np.asarray(bbox, np.float32).reshape(-1, 6), np.asarray(num, np.int32).reshape(-1)


class RuntimeModel:
    """An exported model run by its runtime, with the Paddle model's pre/post-processing (from its metadata)."""

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        self.artifact = locate_artifact(path)
        if self.artifact.format == "onnx":
            self.runtime = open_runtime(self.artifact, threads=threads)
            self.meta = _onnx_metadata(self.runtime)
        else:
            self.meta = _sidecar(self.artifact)
            self.runtime = open_runtime(self.artifact, threads=threads, fp16=bool(self.meta.get("fp16")))
        self.num_classes = int(self.meta["num_classes"])
        self.input_size = tuple(self.meta["input_size"])
        self.strides = tuple(self.meta["strides"])
        self.reg_max = int(self.meta["reg_max"])
        self.class_names = self.meta.get("class_names")
        self.postprocess = self.meta.get("postprocess", "none")
        self.inputs = self.meta.get("inputs") or ["image"]
        # upstream's deploy decode (PaddleDetection exports say no generation) is v1's, for both generations
        self.generation = get_generation(self.meta.get("generation") or DEFAULT_GENERATION)

    def eval(self) -> RuntimeModel:
        return self

    def feeds(self, image: np.ndarray, im_shape: np.ndarray, scale_factor: np.ndarray) -> dict[str, np.ndarray]:
        """The named inputs one call takes: `image` alone, or every input an in-graph NMS declares."""
        image = np.asarray(image, np.float32)
        if self.postprocess != "nms":
            return {"image": image}
        given = {
            "image": image,
            "scale_factor": np.asarray(scale_factor, np.float32).reshape(1, 2),
            "im_shape": np.asarray(im_shape, np.float32).reshape(1, 2),
        }
        return {name: given[name] for name in self.inputs}

    def detect(
        self, image: np.ndarray, im_shape: np.ndarray, scale_factor: np.ndarray, **nms_options: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Same contract as `PicoDet.detect`: `bbox` [M, 6] (class, score, x1, y1, x2, y2) and `bbox_num` [1]."""
        from ..models.postprocess import multiclass_nms

        scale_factor = np.asarray(scale_factor, np.float32).reshape(1, 2)
        outputs = self.runtime.run(self.feeds(image, im_shape, scale_factor))
        if self.postprocess == "nms":
            return _bbox_outputs(outputs)
        if self.postprocess == "decode":
            sy, sx = scale_factor[0]
            boxes = np.asarray(outputs[0], np.float32) / np.array([sx, sy, sx, sy], np.float32)
            return multiclass_nms(boxes, outputs[1], **nms_options)
        levels = len(outputs) // 2
        return self.generation.postprocess_deploy()(
            outputs[:levels], outputs[levels:], self.input_size, self.strides, self.reg_max, scale_factor,
            **nms_options,
        )  # fmt: skip
