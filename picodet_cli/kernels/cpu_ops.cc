// Fast float32 CPU kernels for PicoDet training: depthwise convolution and hard-swish, forward and backward.
//
// Paddle's CPU gradients of both are scalar loops that cost several times their forward passes; these are
// plain loops (over zero-padded planes for the convolution) that the compiler vectorises.
// Layout NCHW, square kernels, dilation 1, one group per channel, contiguous tensors.
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "paddle/extension.h"

namespace {

struct Geometry {
  int64_t batch, channels, height, width, kernel, stride, pad, out_h, out_w, pad_h, pad_w;
};

Geometry geometry(const paddle::Tensor& x, const paddle::Tensor& w, int stride, int pad) {
  Geometry g{};
  g.batch = x.shape()[0];
  g.channels = x.shape()[1];
  g.height = x.shape()[2];
  g.width = x.shape()[3];
  g.kernel = w.shape()[3];
  g.stride = stride;
  g.pad = pad;
  g.out_h = (g.height + 2 * pad - g.kernel) / stride + 1;
  g.out_w = (g.width + 2 * pad - g.kernel) / stride + 1;
  g.pad_h = g.height + 2 * pad;
  g.pad_w = g.width + 2 * pad;
  return g;
}

// Copy one input plane into the middle of a zeroed (H + 2p) x (W + 2p) buffer.
void pad_plane(const float* src, const Geometry& g, float* dst) {
  std::fill(dst, dst + g.pad_h * g.pad_w, 0.0f);
  for (int64_t h = 0; h < g.height; ++h) {
    std::memcpy(dst + (h + g.pad) * g.pad_w + g.pad, src + h * g.width, sizeof(float) * g.width);
  }
}

void forward_plane(const float* padded, const float* wk, const Geometry& g, float* out) {
  const int64_t k = g.kernel, s = g.stride, ow_n = g.out_w;
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    float* row = out + oh * ow_n;
    std::fill(row, row + ow_n, 0.0f);
    for (int64_t i = 0; i < k; ++i) {
      const float* src_row = padded + (oh * s + i) * g.pad_w;
      for (int64_t j = 0; j < k; ++j) {
        const float wv = wk[i * k + j];
        const float* src = src_row + j;
        if (s == 1) {
          for (int64_t ow = 0; ow < ow_n; ++ow) row[ow] += wv * src[ow];
        } else {
          for (int64_t ow = 0; ow < ow_n; ++ow) row[ow] += wv * src[ow * s];
        }
      }
    }
  }
}

// Input gradient scattered into a padded plane; weight gradient as k*k rows of partial sums (no reductions in
// the inner loops, so they vectorise without fast-math).
void backward_plane(const float* padded, const float* wk, const float* gy, const Geometry& g, float* grad_padded,
                    float* partial) {
  const int64_t k = g.kernel, s = g.stride, ow_n = g.out_w;
  std::fill(grad_padded, grad_padded + g.pad_h * g.pad_w, 0.0f);
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    const float* grow = gy + oh * ow_n;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t offset = (oh * s + i) * g.pad_w;
      for (int64_t j = 0; j < k; ++j) {
        const float wv = wk[i * k + j];
        float* dst = grad_padded + offset + j;
        const float* src = padded + offset + j;
        float* acc = partial + (i * k + j) * ow_n;
        if (s == 1) {
          for (int64_t ow = 0; ow < ow_n; ++ow) dst[ow] += wv * grow[ow];
          for (int64_t ow = 0; ow < ow_n; ++ow) acc[ow] += grow[ow] * src[ow];
        } else {
          for (int64_t ow = 0; ow < ow_n; ++ow) dst[ow * s] += wv * grow[ow];
          for (int64_t ow = 0; ow < ow_n; ++ow) acc[ow] += grow[ow] * src[ow * s];
        }
      }
    }
  }
}

// Run fn(begin, end) over [0, count) split into `threads` contiguous chunks (the calling thread takes one).
template <typename Fn>
void parallel_for(int64_t count, int threads, Fn fn) {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, count));
  std::vector<std::thread> workers;
  for (int64_t part = 1; part < parts; ++part) {
    workers.emplace_back(fn, count * part / parts, count * (part + 1) / parts);
  }
  fn(0, count / parts);
  for (auto& worker : workers) worker.join();
}

void check_inputs(const paddle::Tensor& x, const paddle::Tensor& w) {
  PD_CHECK(x.is_cpu() && w.is_cpu(), "picodet depthwise conv: CPU tensors only");
  PD_CHECK(x.dtype() == paddle::DataType::FLOAT32, "picodet depthwise conv: float32 only");
  PD_CHECK(x.shape().size() == 4 && w.shape().size() == 4, "picodet depthwise conv: NCHW input, [C,1,k,k] weight");
  PD_CHECK(w.shape()[0] == x.shape()[1] && w.shape()[1] == 1 && w.shape()[2] == w.shape()[3],
           "picodet depthwise conv: weight must be [C,1,k,k]");
}

}  // namespace

std::vector<paddle::Tensor> DepthwiseForward(const paddle::Tensor& x_in, const paddle::Tensor& w_in, int stride,
                                             int pad, int threads) {
  check_inputs(x_in, w_in);
  const paddle::Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const Geometry g = geometry(x, w, stride, pad);
  auto out = paddle::empty({g.batch, g.channels, g.out_h, g.out_w}, paddle::DataType::FLOAT32, x.place());
  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  float* od = out.data<float>();
  parallel_for(g.batch * g.channels, threads, [&](int64_t begin, int64_t end) {
    std::vector<float> padded(g.pad_h * g.pad_w);
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % g.channels;
      pad_plane(xd + plane * g.height * g.width, g, padded.data());
      forward_plane(padded.data(), wd + c * g.kernel * g.kernel, g, od + plane * g.out_h * g.out_w);
    }
  });
  return {out};
}

std::vector<paddle::Tensor> DepthwiseBackward(const paddle::Tensor& x_in, const paddle::Tensor& w_in,
                                              const paddle::Tensor& gy_in, int stride, int pad, int threads) {
  check_inputs(x_in, w_in);
  const paddle::Tensor x = x_in.contiguous(), w = w_in.contiguous(), gy = gy_in.contiguous();
  const Geometry g = geometry(x, w, stride, pad);
  auto dx = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  auto dw = paddle::empty(w.shape(), paddle::DataType::FLOAT32, w.place());
  const int64_t kk = g.kernel * g.kernel;
  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  const float* gd = gy.data<float>();
  float* dxd = dx.data<float>();
  float* dwd = dw.data<float>();
  parallel_for(g.channels, threads, [&](int64_t begin, int64_t end) {
    std::vector<float> padded(g.pad_h * g.pad_w), grad_padded(g.pad_h * g.pad_w), partial(kk * g.out_w);
    for (int64_t c = begin; c < end; ++c) {
      std::fill(partial.begin(), partial.end(), 0.0f);
      for (int64_t n = 0; n < g.batch; ++n) {
        const int64_t plane = n * g.channels + c;
        pad_plane(xd + plane * g.height * g.width, g, padded.data());
        backward_plane(padded.data(), wd + c * kk, gd + plane * g.out_h * g.out_w, g, grad_padded.data(),
                       partial.data());
        float* dst = dxd + plane * g.height * g.width;
        for (int64_t h = 0; h < g.height; ++h) {
          std::memcpy(dst + h * g.width, grad_padded.data() + (h + g.pad) * g.pad_w + g.pad,
                      sizeof(float) * g.width);
        }
      }
      for (int64_t t = 0; t < kk; ++t) {
        const float* acc = partial.data() + t * g.out_w;
        double sum = 0.0;
        for (int64_t ow = 0; ow < g.out_w; ++ow) sum += acc[ow];
        dwd[c * kk + t] = static_cast<float>(sum);
      }
    }
  });
  return {dx, dw};
}

std::vector<std::vector<int64_t>> DepthwiseShape(const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                                                 int stride, int pad, int threads) {
  return {{x[0], x[1], (x[2] + 2 * pad - w[2]) / stride + 1, (x[3] + 2 * pad - w[3]) / stride + 1}};
}

// Hard-swish as Paddle defines it: x * min(max(x + 3, 0), 6) / 6; gradient (2x + 3) / 6 inside (-3, 3).
std::vector<paddle::Tensor> HardswishForward(const paddle::Tensor& x_in) {
  PD_CHECK(x_in.is_cpu() && x_in.dtype() == paddle::DataType::FLOAT32, "picodet hardswish: float32 CPU only");
  const paddle::Tensor x = x_in.contiguous();
  auto out = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  const float* __restrict xd = x.data<float>();
  float* __restrict od = out.data<float>();
  const int64_t size = x.numel();
  for (int64_t i = 0; i < size; ++i) od[i] = xd[i] * std::min(std::max(xd[i] + 3.0f, 0.0f), 6.0f) / 6.0f;
  return {out};
}

std::vector<paddle::Tensor> HardswishBackward(const paddle::Tensor& x_in, const paddle::Tensor& gy_in) {
  const paddle::Tensor x = x_in.contiguous(), gy = gy_in.contiguous();
  auto dx = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  const float* __restrict xd = x.data<float>();
  const float* __restrict gd = gy.data<float>();
  float* __restrict dd = dx.data<float>();
  const int64_t size = x.numel();
  for (int64_t i = 0; i < size; ++i) {
    const float shifted = xd[i] + 3.0f;
    const float inner = shifted > 0.0f ? (2.0f * xd[i] + 3.0f) / 6.0f : 0.0f;
    dd[i] = gd[i] * (shifted < 6.0f ? inner : 1.0f);
  }
  return {dx};
}

PD_BUILD_OP(picodet_depthwise_conv)
    .Inputs({"X", "W"})
    .Outputs({"Out"})
    .Attrs({"stride: int", "pad: int", "threads: int"})
    .SetKernelFn(PD_KERNEL(DepthwiseForward))
    .SetInferShapeFn(PD_INFER_SHAPE(DepthwiseShape));

PD_BUILD_GRAD_OP(picodet_depthwise_conv)
    .Inputs({"X", "W", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X"), paddle::Grad("W")})
    .Attrs({"stride: int", "pad: int", "threads: int"})
    .SetKernelFn(PD_KERNEL(DepthwiseBackward));

PD_BUILD_OP(picodet_hardswish).Inputs({"X"}).Outputs({"Out"}).SetKernelFn(PD_KERNEL(HardswishForward));

PD_BUILD_GRAD_OP(picodet_hardswish)
    .Inputs({"X", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X")})
    .SetKernelFn(PD_KERNEL(HardswishBackward));
