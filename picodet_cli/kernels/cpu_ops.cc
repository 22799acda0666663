// Fast float32 CPU kernels for PicoDet training, forward and backward: depthwise convolution, hard-swish,
// batch norm fused with its activation, max pooling and 2x nearest upsampling.
//
// Paddle's CPU gradients of these are scalar loops that cost several times their forward passes; these are
// plain loops (over zero-padded planes for the convolution) that the compiler vectorises.
// Layout NCHW, square kernels, dilation 1, one group per channel, contiguous tensors.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include <omp.h>

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

// Run fn(begin, end) over [0, count) split into `threads` contiguous chunks (independent work: results never depend
// on the thread count), on OpenMP's pool: the build links Paddle's libiomp5, the pool MKL's GEMMs use. Threads of
// our own fought MKL's spinning ones for the cores (two threads were no faster than one).
template <typename Fn>
void parallel_for(int64_t count, int threads, Fn fn) {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, count));
  if (parts == 1) {
    fn(0, count);
    return;
  }
#pragma omp parallel num_threads(parts)
  {
    const int64_t part = omp_get_thread_num(), used = omp_get_num_threads();
    fn(count * part / used, count * (part + 1) / used);
  }
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


namespace {

// Activations the fused batch norm applies (the `act` attribute): Paddle's definitions.
enum Act { kIdentity = 0, kHardswish = 1, kRelu = 2 };

template <int A>
inline float activate(float y) {
  if (A == kHardswish) return y * std::min(std::max(y + 3.0f, 0.0f), 6.0f) / 6.0f;
  if (A == kRelu) return std::max(y, 0.0f);
  return y;
}

template <int A>
inline float activation_slope(float y) {
  if (A == kHardswish) {
    const float shifted = y + 3.0f;
    return shifted < 6.0f ? (shifted > 0.0f ? (2.0f * y + 3.0f) / 6.0f : 0.0f) : 1.0f;
  }
  if (A == kRelu) return y > 0.0f ? 1.0f : 0.0f;
  return 1.0f;
}

// fn(std::integral_constant<int, act>{}): the activation as a compile-time constant, so inner loops vectorise.
template <typename Fn>
void with_act(int act, Fn fn) {
  if (act == kHardswish) {
    fn(std::integral_constant<int, kHardswish>{});
  } else if (act == kRelu) {
    fn(std::integral_constant<int, kRelu>{});
  } else {
    PD_CHECK(act == kIdentity, "picodet batch norm: unknown activation");
    fn(std::integral_constant<int, kIdentity>{});
  }
}

constexpr int kLanes = 16;  // independent partial sums: the reductions vectorise without reassociation

// Add x - shift and its square over one plane to the lanes `sum` and `squares` (float lanes, summed in double once
// per channel); a shift near the mean keeps the variance E[d^2] - E[d]^2 free of cancellation.
void plane_moments(const float* __restrict x, int64_t size, float shift, float* __restrict sum,
                   float* __restrict squares) {
  int64_t i = 0;
  for (; i + kLanes <= size; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const float d = x[i + l] - shift;
      sum[l] += d;
      squares[l] += d * d;
    }
  }
  for (; i < size; ++i) {
    const float d = x[i] - shift;
    sum[0] += d;
    squares[0] += d * d;
  }
}

double lane_total(const float* lanes) {
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

void check_batch_norm(const paddle::Tensor& x, const paddle::Tensor& scale) {
  PD_CHECK(x.is_cpu() && x.dtype() == paddle::DataType::FLOAT32, "picodet batch norm: float32 CPU only");
  PD_CHECK(x.shape().size() == 4 && scale.shape().size() == 1 && scale.shape()[0] == x.shape()[1],
           "picodet batch norm: NCHW input and one scale per channel");
}

}  // namespace

// Training-mode batch norm (batch statistics, biased variance as Paddle) followed by `act`, in two passes over x.
// Returns the output, the batch mean and 1/sqrt(var + eps) for the gradient, and the updated running statistics
// momentum * running + (1 - momentum) * batch.
std::vector<paddle::Tensor> BatchNormActForward(const paddle::Tensor& x_in, const paddle::Tensor& scale_in,
                                                const paddle::Tensor& bias_in, const paddle::Tensor& mean_in,
                                                const paddle::Tensor& var_in, float momentum, float epsilon, int act,
                                                int threads) {
  check_batch_norm(x_in, scale_in);
  const paddle::Tensor x = x_in.contiguous(), scale = scale_in.contiguous(), bias = bias_in.contiguous();
  const paddle::Tensor running_mean = mean_in.contiguous(), running_var = var_in.contiguous();
  const int64_t batch = x.shape()[0], channels = x.shape()[1], plane = x.shape()[2] * x.shape()[3];
  auto out = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  auto saved_mean = paddle::empty({channels}, paddle::DataType::FLOAT32, x.place());
  auto saved_inv_std = paddle::empty({channels}, paddle::DataType::FLOAT32, x.place());
  auto new_mean = paddle::empty({channels}, paddle::DataType::FLOAT32, x.place());
  auto new_var = paddle::empty({channels}, paddle::DataType::FLOAT32, x.place());
  const float* xd = x.data<float>();
  const float* sd = scale.data<float>();
  const float* bd = bias.data<float>();
  float* od = out.data<float>();
  const float* old_mean = running_mean.data<float>();
  const float* old_var = running_var.data<float>();
  float* mean_out = saved_mean.data<float>();
  float* inv_std_out = saved_inv_std.data<float>();
  float* new_mean_out = new_mean.data<float>();
  float* new_var_out = new_var.data<float>();
  parallel_for(channels, threads, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      float sum_lanes[kLanes] = {}, square_lanes[kLanes] = {};
      const float shift = xd[c * plane];  // a value of the channel
      for (int64_t n = 0; n < batch; ++n) {
        plane_moments(xd + (n * channels + c) * plane, plane, shift, sum_lanes, square_lanes);
      }
      const double count = static_cast<double>(batch * plane), offset = lane_total(sum_lanes) / count;
      const double mean = shift + offset, var = std::max(lane_total(square_lanes) / count - offset * offset, 0.0);
      const float inv_std = static_cast<float>(1.0 / std::sqrt(var + epsilon));
      mean_out[c] = static_cast<float>(mean);
      inv_std_out[c] = inv_std;
      new_mean_out[c] = momentum * old_mean[c] + (1.0f - momentum) * static_cast<float>(mean);
      new_var_out[c] = momentum * old_var[c] + (1.0f - momentum) * static_cast<float>(var);
      const float a = sd[c] * inv_std, b = bd[c] - static_cast<float>(mean) * a;
      with_act(act, [&](auto tag) {
        constexpr int A = decltype(tag)::value;
        for (int64_t n = 0; n < batch; ++n) {
          const float* __restrict src = xd + (n * channels + c) * plane;
          float* __restrict dst = od + (n * channels + c) * plane;
          for (int64_t i = 0; i < plane; ++i) dst[i] = activate<A>(src[i] * a + b);
        }
      });
    }
  });
  return {out, saved_mean, saved_inv_std, new_mean, new_var};
}

// Gradient of BatchNormActForward for x, scale and bias (the activation's input recomputed from x).
std::vector<paddle::Tensor> BatchNormActBackward(const paddle::Tensor& x_in, const paddle::Tensor& scale_in,
                                                 const paddle::Tensor& bias_in, const paddle::Tensor& mean_in,
                                                 const paddle::Tensor& inv_std_in, const paddle::Tensor& gy_in,
                                                 float momentum, float epsilon, int act, int threads) {
  const paddle::Tensor x = x_in.contiguous(), scale = scale_in.contiguous(), bias = bias_in.contiguous();
  const paddle::Tensor saved_mean = mean_in.contiguous(), inv_std = inv_std_in.contiguous(), gy = gy_in.contiguous();
  const int64_t batch = x.shape()[0], channels = x.shape()[1], plane = x.shape()[2] * x.shape()[3];
  auto dx = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  auto dscale = paddle::empty({channels}, paddle::DataType::FLOAT32, x.place());
  auto dbias = paddle::empty({channels}, paddle::DataType::FLOAT32, x.place());
  const float* xd = x.data<float>();
  const float* gd = gy.data<float>();
  float* dxd = dx.data<float>();
  const float* means = saved_mean.data<float>();
  const float* inv_stds = inv_std.data<float>();
  const float* gammas = scale.data<float>();
  const float* betas = bias.data<float>();
  float* dscale_out = dscale.data<float>();
  float* dbias_out = dbias.data<float>();
  parallel_for(channels, threads, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const float mean = means[c], istd = inv_stds[c], gamma = gammas[c], beta = betas[c];
      with_act(act, [&](auto tag) {
        constexpr int A = decltype(tag)::value;
        float acc[kLanes] = {}, acc_x[kLanes] = {};
        for (int64_t n = 0; n < batch; ++n) {
          const float* __restrict src = xd + (n * channels + c) * plane;
          const float* __restrict grad = gd + (n * channels + c) * plane;
          int64_t i = 0;
          for (; i + kLanes <= plane; i += kLanes) {
            for (int l = 0; l < kLanes; ++l) {
              const float xhat = (src[i + l] - mean) * istd;
              const float g = grad[i + l] * activation_slope<A>(xhat * gamma + beta);
              acc[l] += g;
              acc_x[l] += g * xhat;
            }
          }
          for (; i < plane; ++i) {
            const float xhat = (src[i] - mean) * istd;
            const float g = grad[i] * activation_slope<A>(xhat * gamma + beta);
            acc[0] += g;
            acc_x[0] += g * xhat;
          }
        }
        const double sum_g = lane_total(acc), sum_gx = lane_total(acc_x);
        dbias_out[c] = static_cast<float>(sum_g);
        dscale_out[c] = static_cast<float>(sum_gx);
        const double count = static_cast<double>(batch * plane);
        const float mean_g = static_cast<float>(sum_g / count), mean_gx = static_cast<float>(sum_gx / count);
        const float k = gamma * istd;
        for (int64_t n = 0; n < batch; ++n) {
          const float* __restrict src = xd + (n * channels + c) * plane;
          const float* __restrict grad = gd + (n * channels + c) * plane;
          float* __restrict dst = dxd + (n * channels + c) * plane;
          for (int64_t i = 0; i < plane; ++i) {
            const float xhat = (src[i] - mean) * istd;
            const float g = grad[i] * activation_slope<A>(xhat * gamma + beta);
            dst[i] = k * (g - mean_g - xhat * mean_gx);
          }
        }
      });
    }
  });
  return {dx, dscale, dbias};
}

std::vector<std::vector<int64_t>> BatchNormActShape(const std::vector<int64_t>& x, const std::vector<int64_t>& scale,
                                                    const std::vector<int64_t>& bias, const std::vector<int64_t>& mean,
                                                    const std::vector<int64_t>& var, float momentum, float epsilon,
                                                    int act, int threads) {
  return {x, {x[1]}, {x[1]}, {x[1]}, {x[1]}};
}

// Max pooling with implicit -inf padding; each output keeps the plane offset of the first largest input of its
// window (row-major order), which receives the whole gradient, as in Paddle.
std::vector<paddle::Tensor> MaxPoolForward(const paddle::Tensor& x_in, int kernel, int stride, int pad, int threads) {
  PD_CHECK(x_in.is_cpu() && x_in.dtype() == paddle::DataType::FLOAT32 && x_in.shape().size() == 4,
           "picodet max pool: NCHW float32 CPU only");
  const paddle::Tensor x = x_in.contiguous();
  const int64_t planes = x.shape()[0] * x.shape()[1], height = x.shape()[2], width = x.shape()[3];
  const int64_t out_h = (height + 2 * pad - kernel) / stride + 1, out_w = (width + 2 * pad - kernel) / stride + 1;
  auto out = paddle::empty({x.shape()[0], x.shape()[1], out_h, out_w}, paddle::DataType::FLOAT32, x.place());
  auto index = paddle::empty({x.shape()[0], x.shape()[1], out_h, out_w}, paddle::DataType::INT32, x.place());
  const float* xd = x.data<float>();
  float* od = out.data<float>();
  int32_t* id = index.data<int32_t>();
  parallel_for(planes, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* src = xd + p * height * width;
      for (int64_t oh = 0; oh < out_h; ++oh) {
        const int64_t h0 = std::max<int64_t>(oh * stride - pad, 0), h1 = std::min(oh * stride - pad + kernel, height);
        for (int64_t ow = 0; ow < out_w; ++ow) {
          const int64_t w0 = std::max<int64_t>(ow * stride - pad, 0), w1 = std::min(ow * stride - pad + kernel, width);
          int64_t best = h0 * width + w0;
          for (int64_t h = h0; h < h1; ++h) {
            for (int64_t w = w0; w < w1; ++w) {
              if (src[h * width + w] > src[best]) best = h * width + w;
            }
          }
          const int64_t o = p * out_h * out_w + oh * out_w + ow;
          od[o] = src[best];
          id[o] = static_cast<int32_t>(best);
        }
      }
    }
  });
  return {out, index};
}

std::vector<paddle::Tensor> MaxPoolBackward(const paddle::Tensor& x, const paddle::Tensor& index_in,
                                            const paddle::Tensor& gy_in, int kernel, int stride, int pad,
                                            int threads) {
  const paddle::Tensor index = index_in.contiguous(), gy = gy_in.contiguous();
  const int64_t planes = x.shape()[0] * x.shape()[1], size = x.shape()[2] * x.shape()[3];
  const int64_t out_size = gy.shape()[2] * gy.shape()[3];
  auto dx = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  const int32_t* id = index.data<int32_t>();
  const float* gd = gy.data<float>();
  float* dxd = dx.data<float>();
  parallel_for(planes, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      float* dst = dxd + p * size;
      std::fill(dst, dst + size, 0.0f);
      for (int64_t o = 0; o < out_size; ++o) dst[id[p * out_size + o]] += gd[p * out_size + o];
    }
  });
  return {dx};
}

std::vector<std::vector<int64_t>> MaxPoolShape(const std::vector<int64_t>& x, int kernel, int stride, int pad,
                                               int threads) {
  const std::vector<int64_t> out = {x[0], x[1], (x[2] + 2 * pad - kernel) / stride + 1,
                                    (x[3] + 2 * pad - kernel) / stride + 1};
  return {out, out};
}

std::vector<paddle::DataType> MaxPoolDtype(const paddle::DataType& x) { return {x, paddle::DataType::INT32}; }

// Nearest upsampling by 2: every pixel repeated 2x2. The gradient sums each 2x2 block in the order Paddle's
// reduction of the reshape + expand it replaces does (down the left column, then the right one): the same bits.
std::vector<paddle::Tensor> Upsample2xForward(const paddle::Tensor& x_in, int threads) {
  PD_CHECK(x_in.is_cpu() && x_in.dtype() == paddle::DataType::FLOAT32 && x_in.shape().size() == 4,
           "picodet upsample: NCHW float32 CPU only");
  const paddle::Tensor x = x_in.contiguous();
  const int64_t planes = x.shape()[0] * x.shape()[1], height = x.shape()[2], width = x.shape()[3];
  auto out = paddle::empty({x.shape()[0], x.shape()[1], 2 * height, 2 * width}, paddle::DataType::FLOAT32, x.place());
  const float* xd = x.data<float>();
  float* od = out.data<float>();
  parallel_for(planes, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* src = xd + p * height * width;
      float* dst = od + p * 4 * height * width;
      for (int64_t h = 0; h < height; ++h) {
        float* row = dst + 4 * h * width;
        for (int64_t w = 0; w < width; ++w) row[2 * w] = row[2 * w + 1] = src[h * width + w];
        std::memcpy(row + 2 * width, row, sizeof(float) * 2 * width);
      }
    }
  });
  return {out};
}

std::vector<paddle::Tensor> Upsample2xBackward(const paddle::Tensor& x, const paddle::Tensor& gy_in, int threads) {
  const paddle::Tensor gy = gy_in.contiguous();
  const int64_t planes = x.shape()[0] * x.shape()[1], height = x.shape()[2], width = x.shape()[3];
  auto dx = paddle::empty(x.shape(), paddle::DataType::FLOAT32, x.place());
  const float* gd = gy.data<float>();
  float* dxd = dx.data<float>();
  parallel_for(planes, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* src = gd + p * 4 * height * width;
      float* dst = dxd + p * height * width;
      for (int64_t h = 0; h < height; ++h) {
        const float* top = src + 4 * h * width;
        const float* bottom = top + 2 * width;
        for (int64_t w = 0; w < width; ++w) {
          dst[h * width + w] = ((top[2 * w] + bottom[2 * w]) + top[2 * w + 1]) + bottom[2 * w + 1];
        }
      }
    }
  });
  return {dx};
}

std::vector<std::vector<int64_t>> Upsample2xShape(const std::vector<int64_t>& x, int threads) {
  return {{x[0], x[1], 2 * x[2], 2 * x[3]}};
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

PD_BUILD_OP(picodet_batch_norm_act)
    .Inputs({"X", "Scale", "Bias", "Mean", "Variance"})
    .Outputs({"Out", "SavedMean", "SavedInvStd", "MeanOut", "VarianceOut"})
    .Attrs({"momentum: float", "epsilon: float", "act: int", "threads: int"})
    .SetKernelFn(PD_KERNEL(BatchNormActForward))
    .SetInferShapeFn(PD_INFER_SHAPE(BatchNormActShape));

PD_BUILD_GRAD_OP(picodet_batch_norm_act)
    .Inputs({"X", "Scale", "Bias", "SavedMean", "SavedInvStd", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X"), paddle::Grad("Scale"), paddle::Grad("Bias")})
    .Attrs({"momentum: float", "epsilon: float", "act: int", "threads: int"})
    .SetKernelFn(PD_KERNEL(BatchNormActBackward));

PD_BUILD_OP(picodet_max_pool)
    .Inputs({"X"})
    .Outputs({"Out", "Index"})
    .Attrs({"kernel: int", "stride: int", "pad: int", "threads: int"})
    .SetKernelFn(PD_KERNEL(MaxPoolForward))
    .SetInferShapeFn(PD_INFER_SHAPE(MaxPoolShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(MaxPoolDtype));

PD_BUILD_GRAD_OP(picodet_max_pool)
    .Inputs({"X", "Index", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X")})
    .Attrs({"kernel: int", "stride: int", "pad: int", "threads: int"})
    .SetKernelFn(PD_KERNEL(MaxPoolBackward));

PD_BUILD_OP(picodet_upsample2x)
    .Inputs({"X"})
    .Outputs({"Out"})
    .Attrs({"threads: int"})
    .SetKernelFn(PD_KERNEL(Upsample2xForward))
    .SetInferShapeFn(PD_INFER_SHAPE(Upsample2xShape));

PD_BUILD_GRAD_OP(picodet_upsample2x)
    .Inputs({"X", paddle::Grad("Out")})
    .Outputs({paddle::Grad("X")})
    .Attrs({"threads: int"})
    .SetKernelFn(PD_KERNEL(Upsample2xBackward));
