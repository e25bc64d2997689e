// Convolution and pooling: pad, conv1d, conv2d, max/avg/adaptive-average pooling. Each is a
// composition of recorded ops, so no rule of its own: windows are unfold views of the (padded)
// input, convolution is one matmul of the weights with those windows laid out as columns
// (im2col: the reshape copies them), pooling a max or mean over each window. The gradient of
// a window view adds every window back into its input (unfold's rule), so overlapping windows
// (stride < kernel) sum, and the rules of those ops are themselves differentiable.
#include <cmath>
#include <limits>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

std::string pair_str(Size2 p) { return "{" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + "}"; }

void check_floating(const Tensor& t, const char* op, const char* what) {
  if (!t.defined()) throw Error(std::string(op) + ": the " + what + " is an undefined Tensor");
  if (!is_floating(t.dtype()))
    throw Error(std::string(op) + ": the " + what + " must be Float32 or Float64, got " + dtype_name(t.dtype()) +
                "; convert with .to(ad::kFloat32)");
}

// An image batch [N, C, H, W], or an unbatched [C, H, W] given a batch of one.
Tensor as_batch(const Tensor& x, const char* op) {
  check_floating(x, op, "input");
  if (x.dim() == 4) return x;
  if (x.dim() == 3) return x.unsqueeze(0);
  throw Error(std::string(op) + ": the input must be [N, C, H, W] or [C, H, W], got shape " + shape_str(x.shape()));
}

// The windows of a 4-D x (already padded): [N, C, oH, oW, kH, kW], as a view.
Tensor windows(const Tensor& x, Size2 kernel, Size2 stride, Size2 dilation) {
  const std::int64_t eh = dilation[0] * (kernel[0] - 1) + 1, ew = dilation[1] * (kernel[1] - 1) + 1;
  Tensor w = x.unfold(2, eh, stride[0]).unfold(3, ew, stride[1]);
  if (dilation[0] > 1) w = w.slice(4, 0, eh, dilation[0]);
  if (dilation[1] > 1) w = w.slice(5, 0, ew, dilation[1]);
  return w;
}

// Checks that a kernel (stretched by dilation) fits the padded input: each output size >= 1.
void check_fits(const char* op, const Shape& padded, Size2 kernel, Size2 dilation, const Shape& input) {
  for (int d = 0; d < 2; ++d)
    if (dilation[d] * (kernel[d] - 1) + 1 > padded[static_cast<std::size_t>(2 + d)])
      throw Error(std::string(op) + ": the kernel " + pair_str(kernel) +
                  (dilation == Size2{1, 1} ? "" : " with dilation " + pair_str(dilation)) +
                  " is larger than the padded input " + shape_str(padded) + " (input " + shape_str(input) +
                  "); use a smaller kernel or more padding");
}

void check_positive(const char* op, const char* what, Size2 v, std::int64_t least) {
  if (v[0] < least || v[1] < least)
    throw Error(std::string(op) + ": " + what + " " + pair_str(v) + " must be >= " + std::to_string(least));
}

}  // namespace

Tensor pad(const Tensor& a, const std::vector<std::int64_t>& pads, PadMode mode, double value) {
  if (pads.size() % 2 != 0 || pads.size() > 2 * static_cast<std::size_t>(a.dim()))
    throw Error("pad: " + std::to_string(pads.size()) + " padding sizes for a tensor of shape " + shape_str(a.shape()) +
                "; give a {before, after} pair per padded dim, last dim first, at most " + std::to_string(2 * a.dim()));
  Tensor out = a;
  for (std::size_t k = 0; k < pads.size() / 2; ++k) {
    const std::int64_t d = a.dim() - 1 - static_cast<std::int64_t>(k);
    const std::int64_t before = pads[2 * k], after = pads[2 * k + 1], n = a.size(d);
    if (before < 0 || after < 0)
      throw Error("pad: padding sizes must be >= 0, got " + std::to_string(before) + " and " + std::to_string(after) +
                  " for dim " + std::to_string(d) + "; crop with narrow() instead");
    if (before == 0 && after == 0) continue;
    if (mode == PadMode::constant) {
      auto block = [&](std::int64_t size) {  // `size` constants along d, out's sizes elsewhere
        Shape side = out.shape();
        side[static_cast<std::size_t>(d)] = size;
        return full(side, value, dtype(a.dtype()));
      };
      std::vector<Tensor> parts;
      if (before > 0) parts.push_back(block(before));
      parts.push_back(out);
      if (after > 0) parts.push_back(block(after));
      out = cat(parts, d);
    } else {
      if (before >= n || after >= n)
        throw Error("pad: reflect padding {" + std::to_string(before) + ", " + std::to_string(after) + "} of dim " +
                    std::to_string(d) + " must be smaller than its size " + std::to_string(n) + " (shape " +
                    shape_str(a.shape()) + ")");
      // source index of each output position: before .. 1, 0 .. n-1, n-2 .. n-1-after
      std::vector<std::int64_t> src;
      for (std::int64_t i = before; i >= 1; --i) src.push_back(i);
      for (std::int64_t i = 0; i < n; ++i) src.push_back(i);
      for (std::int64_t i = 1; i <= after; ++i) src.push_back(n - 1 - i);
      out = index_select(out, d, index_tensor(src));
    }
  }
  return out;
}

// y[n, o] = sum over the group's channels c and offsets (i, j) of w[o, c, i, j] * xpad[n, c,
// h*s + i*d, w*s + j*d] + bias[o]: the weights [G, O/G, K] times the windows as columns
// [N, G, K, oH*oW], K = C/G * kH * kW.
Tensor conv2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  const Tensor x = as_batch(x_in, "conv2d");
  check_floating(weight, "conv2d", "weight");
  if (weight.dim() != 4)
    throw Error("conv2d: the weight must be [out_channels, in_channels / groups, kH, kW], got shape " +
                shape_str(weight.shape()));
  check_positive("conv2d", "stride", opt.stride, 1);
  check_positive("conv2d", "dilation", opt.dilation, 1);
  check_positive("conv2d", "padding", opt.padding, 0);
  const std::int64_t n = x.size(0), c = x.size(1), oc = weight.size(0), g = opt.groups;
  const Size2 k = {weight.size(2), weight.size(3)};
  if (g < 1 || c % g != 0 || oc % g != 0)
    throw Error("conv2d: groups = " + std::to_string(g) + " must divide the input's " + std::to_string(c) +
                " channels and the weight's " + std::to_string(oc) + " output channels");
  if (weight.size(1) != c / g)
    throw Error("conv2d: the weight " + shape_str(weight.shape()) + " expects " + std::to_string(weight.size(1) * g) +
                " input channels, but the input " + shape_str(x_in.shape()) + " has " + std::to_string(c) +
                (g > 1 ? " (groups = " + std::to_string(g) + ")" : ""));
  if (weight.dtype() != x.dtype())
    throw Error(std::string("conv2d: the input is ") + dtype_name(x.dtype()) + " but the weight is " +
                dtype_name(weight.dtype()) + "; convert one with .to()");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != oc || bias.dtype() != x.dtype()))
    throw Error("conv2d: the bias must be [" + std::to_string(oc) + "] " + dtype_name(x.dtype()) + ", got " +
                shape_str(bias.shape()) + " " + dtype_name(bias.dtype()));
  std::vector<std::int64_t> pads = {opt.padding[1], opt.padding[1], opt.padding[0], opt.padding[0]};
  if (opt.same) {
    if (opt.stride != Size2{1, 1})
      throw Error("conv2d: padding 'same' needs stride 1, got stride " + pair_str(opt.stride));
    // the total padding dilation * (k - 1), the odd element after (as PyTorch)
    const std::int64_t th = opt.dilation[0] * (k[0] - 1), tw = opt.dilation[1] * (k[1] - 1);
    pads = {tw / 2, tw - tw / 2, th / 2, th - th / 2};
  }
  const Tensor xp = pad(x, pads);
  check_fits("conv2d", xp.shape(), k, opt.dilation, x_in.shape());
  const Tensor win = windows(xp, k, opt.stride, opt.dilation);  // [N, C, oH, oW, kH, kW]
  const std::int64_t oh = win.size(2), ow = win.size(3), cg = c / g;
  const Tensor cols = win.reshape({n, g, cg, oh, ow, k[0], k[1]})
                          .permute({0, 1, 2, 5, 6, 3, 4})
                          .reshape({n, g, cg * k[0] * k[1], oh * ow});
  Tensor y = matmul(weight.reshape({g, oc / g, cg * k[0] * k[1]}), cols).reshape({n, oc, oh, ow});
  if (bias.defined()) y = y + bias.reshape({1, oc, 1, 1});
  return x_in.dim() == 3 ? y.squeeze(0) : y;
}

// conv2d over [N, C, 1, L] with a [O, C/G, 1, k] weight.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dOptions& opt) {
  check_floating(x, "conv1d", "input");
  check_floating(weight, "conv1d", "weight");
  if (x.dim() != 2 && x.dim() != 3)
    throw Error("conv1d: the input must be [N, C, L] or [C, L], got shape " + shape_str(x.shape()));
  if (weight.dim() != 3)
    throw Error("conv1d: the weight must be [out_channels, in_channels / groups, k], got shape " +
                shape_str(weight.shape()));
  const Conv2dOptions o{.stride = {1, opt.stride},
                        .padding = {0, opt.padding},
                        .dilation = {1, opt.dilation},
                        .groups = opt.groups,
                        .same = opt.same};
  return conv2d(x.unsqueeze(-2), weight.unsqueeze(-2), bias, o).squeeze(-2);
}

namespace {

struct PoolGeometry {
  Size2 stride;
  std::vector<std::int64_t> pads;
};
PoolGeometry pool_geometry(const char* op, Size2 kernel, const Pool2dOptions& opt) {
  check_positive(op, "kernel size", kernel, 1);
  check_positive(op, "stride", opt.stride, 0);
  check_positive(op, "padding", opt.padding, 0);
  if (2 * opt.padding[0] > kernel[0] || 2 * opt.padding[1] > kernel[1])
    throw Error(std::string(op) + ": padding " + pair_str(opt.padding) + " must be at most half the kernel " +
                pair_str(kernel));
  const Size2 stride = {opt.stride[0] ? opt.stride[0] : kernel[0], opt.stride[1] ? opt.stride[1] : kernel[1]};
  return {stride, {opt.padding[1], opt.padding[1], opt.padding[0], opt.padding[0]}};
}

}  // namespace

// y[n, c, i, j] = max of the window; the gradient goes to the first maximum of each window
ValuesIndices max_pool2d_with_indices(const Tensor& x_in, Size2 kernel, const Pool2dOptions& opt) {
  const Tensor x = as_batch(x_in, "max_pool2d");
  const PoolGeometry geo = pool_geometry("max_pool2d", kernel, opt);
  const Tensor xp = pad(x, geo.pads, PadMode::constant, -std::numeric_limits<double>::infinity());
  check_fits("max_pool2d", xp.shape(), kernel, {1, 1}, x_in.shape());
  const Tensor win = windows(xp, kernel, geo.stride, {1, 1});
  const std::int64_t n = x.size(0), c = x.size(1), oh = win.size(2), ow = win.size(3);
  ValuesIndices vi = max(win.reshape({n, c, oh, ow, kernel[0] * kernel[1]}), -1);
  // window offset -> flat index into the unpadded plane
  const Tensor flat = vi.indices.contiguous();
  Tensor idx = empty(flat.shape(), dtype(kInt64));
  const std::int64_t* src = flat.data_ptr<std::int64_t>();
  std::int64_t* dst = idx.data_ptr<std::int64_t>();
  const std::int64_t width = x.size(3);
  for (std::int64_t p = 0; p < n * c; ++p)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        const std::int64_t e = ((p * oh) + i) * ow + j, off = src[e];
        const std::int64_t r = i * geo.stride[0] - opt.padding[0] + off / kernel[1];
        const std::int64_t q = j * geo.stride[1] - opt.padding[1] + off % kernel[1];
        dst[e] = r * width + q;
      }
  if (x_in.dim() == 3) return {vi.values.squeeze(0), idx.squeeze(0)};
  return {vi.values, idx};
}

Tensor max_pool2d(const Tensor& x, Size2 kernel, const Pool2dOptions& opt) {
  return max_pool2d_with_indices(x, kernel, opt).values;
}

// y[n, c, i, j] = mean of the window, padding zeros included (PyTorch's count_include_pad)
Tensor avg_pool2d(const Tensor& x_in, Size2 kernel, const Pool2dOptions& opt) {
  const Tensor x = as_batch(x_in, "avg_pool2d");
  const PoolGeometry geo = pool_geometry("avg_pool2d", kernel, opt);
  const Tensor xp = pad(x, geo.pads);
  check_fits("avg_pool2d", xp.shape(), kernel, {1, 1}, x_in.shape());
  const Tensor y = mean(windows(xp, kernel, geo.stride, {1, 1}), {4, 5});
  return x_in.dim() == 3 ? y.squeeze(0) : y;
}

namespace {
// A [out, in] matrix whose row i averages inputs floor(i in / out) .. ceil((i+1) in / out) - 1.
Tensor averaging_matrix(std::int64_t out, std::int64_t in, Dtype dt) {
  std::vector<double> m(static_cast<std::size_t>(out * in), 0.0);
  for (std::int64_t i = 0; i < out; ++i) {
    const std::int64_t lo = (i * in) / out, hi = ((i + 1) * in + out - 1) / out;
    for (std::int64_t j = lo; j < hi; ++j) m[static_cast<std::size_t>(i * in + j)] = 1.0 / static_cast<double>(hi - lo);
  }
  return tensor(m, {out, in}, dtype(dt));
}
}  // namespace

// y = A_h x A_w^T per plane, A the averaging matrices (each row averages one window)
Tensor adaptive_avg_pool2d(const Tensor& x_in, Size2 output_size) {
  const Tensor x = as_batch(x_in, "adaptive_avg_pool2d");
  check_positive("adaptive_avg_pool2d", "output size", output_size, 1);
  if (x.size(2) == 0 || x.size(3) == 0)
    throw Error("adaptive_avg_pool2d: the input " + shape_str(x_in.shape()) +
                " has an empty plane: nothing to average");
  const Tensor ah = averaging_matrix(output_size[0], x.size(2), x.dtype());
  const Tensor aw = averaging_matrix(output_size[1], x.size(3), x.dtype());
  const Tensor y = matmul_t(matmul(ah, x), aw, false, true);
  return x_in.dim() == 3 ? y.squeeze(0) : y;
}

}  // namespace ad
