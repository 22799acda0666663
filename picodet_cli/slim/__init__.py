"""INT8 quantization: PTQ (calibration only) and QAT (fake-quant fine-tuning), each ending in deployable artifacts.

Which library does what (the routes that measured as working on this stack):
- ONNX INT8: onnxruntime's `quantize_static` (QDQ, per-channel weights) on the FP32 ONNX of the export pipeline;
  onnxruntime and OpenVINO both run it. After QAT it calibrates the QAT-trained weights (the learned scales
  reach the Paddle and Lite models only).
- Paddle INT8 (PTQ): paddle 2.6.2's `PostTrainingQuantization` on the legacy FP32 program, in the `legacy`
  toolchain (paddle 3.3.1 can neither write a legacy program for PicoDet nor deploy its own quantized models).
  PTQ quantizes the same layers in both formats: regular convolutions (weights per channel, input activations);
  depthwise convolutions stay FP32 (see `onnx_int8`: they cost the most accuracy and gain the least speed).
- QAT: paddle 3.3.1's `ImperativeQuantAware` fake-quant layers, trained by picodet's Trainer; the trained
  state dict is loaded into the same wrapper under paddle 2.6.2, which saves the Paddle INT8 program.
- Paddle-Lite INT8: `paddle_lite_opt` on the Paddle INT8 program (legacy toolchain).
"""

from __future__ import annotations

# Paddle op types PTQ quantizes (`depthwise_conv2d` left out on purpose, as in onnxruntime's QDQ model)
PTQ_OP_TYPES = ("conv2d", "mul", "matmul", "matmul_v2")

# The QAT settings of PaddleDetection's picodet_s_quant.yml (without PACT), shared by training and conversion.
QAT_SETTINGS = {
    "weight_quantize_type": "channel_wise_abs_max",
    "activation_quantize_type": "moving_average_abs_max",
    "weight_bits": 8,
    "activation_bits": 8,
    "moving_rate": 0.9,
    "quantizable_layer_type": ["Conv2D", "Linear"],
    # Paddle's frozen fake-quant format (what Lite and Paddle Inference read); it also decides which layers get
    # output-scale observers, so training and conversion must agree on it
    "onnx_format": False,
}
