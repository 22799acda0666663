"""One constant per default that more than one stage uses (plain data, no imports)."""

from __future__ import annotations

DEFAULT_INPUT_SIZE = 320  # square network input when neither the zoo model nor the user says otherwise
SIZE_MULTIPLE = 32  # network inputs are multiples of the largest backbone stride
DEFAULT_NUM_CLASSES = 80  # COCO
# The original's MultiClassNMS settings for evaluation and in-graph NMS (both generations).
NMS_SCORE_THRESHOLD = 0.025
NMS_IOU_THRESHOLD = 0.6
NMS_TOP_K = 1000  # candidates per class before NMS
NMS_KEEP_TOP_K = 100  # detections kept per image
NMS_OPTIONS = {
    "score_threshold": NMS_SCORE_THRESHOLD,
    "nms_threshold": NMS_IOU_THRESHOLD,
    "nms_top_k": NMS_TOP_K,
    "keep_top_k": NMS_KEEP_TOP_K,
}
PREDICT_SCORE_THRESHOLD = 0.5  # what `predict` draws and writes by default
# evaluations during training load up to this many images in the trainer's process: starting a loader worker
# costs more than it saves on a small validation set (the demo's 60 images)
IN_PROCESS_EVAL_IMAGES = 200
VALIDATION_SPLIT = "val"  # the recipe's data split that eval, quantize and bench score on
BENCH_DEVICES = ("cpu", "arm")  # where `picodet bench` runs (an aarch64 host, a phone over adb, or qemu)


def check_input_size(size: int) -> str | None:
    """Why `size` is not a usable network input size, or None when it is."""
    if size < SIZE_MULTIPLE or size % SIZE_MULTIPLE:
        return f"{size} is not a positive multiple of {SIZE_MULTIPLE}"
    return None
