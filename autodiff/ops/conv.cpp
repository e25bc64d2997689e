// Convolution and pooling: pad, unfold/fold (im2col and its adjoint), conv1d, conv2d,
// max/avg/adaptive-average pooling. unfold and fold are the two ops with rules here, each the
// other's gradient (both linear, so every derivative order follows). The rest compose recorded
// ops: a convolution is one batched matmul of the weights with the unfolded windows, max pooling
// a gather at each window's maximum (its rule scatters the gradient back), average pooling a
// mean over the unfolded windows.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "adgraph/autodiff/kernels/gemm.h"
#include "adgraph/autodiff/memory.h"
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

// Where the windows of unfold/fold lie in a [N, C, H, W] image.
struct FoldGeometry {
  std::int64_t n, c, h, w;  // image
  Size2 k, s, p, d;         // kernel, stride, padding, dilation
  std::int64_t oh, ow;      // windows down and across
  std::int64_t rows() const { return c * k[0] * k[1]; }
  std::int64_t cols() const { return oh * ow; }
  // The windows x0 <= x < x1 whose kernel column j lands inside the image (not in the padding).
  std::pair<std::int64_t, std::int64_t> inside(std::int64_t j) const {
    const std::int64_t off = j * d[1] - p[1];  // image column of window x: x s + off
    const std::int64_t x0 = off >= 0 ? 0 : (-off + s[1] - 1) / s[1];
    const std::int64_t x1 = w - off <= 0 ? 0 : std::min(ow, (w - off + s[1] - 1) / s[1]);
    return {std::min(x0, ow), std::max(std::min(x0, ow), x1)};
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> inside_all() const {  // inside(j) for every j
    std::vector<std::pair<std::int64_t, std::int64_t>> r;
    for (std::int64_t j = 0; j < k[1]; ++j) r.push_back(inside(j));
    return r;
  }
};

// Where column entry (sample n, row r) of an unfolded batch starts: cols + n * sample + r * row.
// The [N, K, L] layout of ad::unfold has sample = K L, row = L; the [K, N L] layout of the
// convolutions (one GEMM for the whole batch) has sample = L, row = N L.
struct ColsLayout {
  std::int64_t sample, row;
};

// Copies a short row (a window row of im2col: often 8 to 32 elements) in 32-byte blocks the
// compiler inlines, instead of a memmove call per row, which dominated small convolutions.
template <class T>
inline void copy_row(const T* src, T* dst, std::int64_t n) {
  constexpr std::int64_t kBlock = 32 / sizeof(T);
  std::int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) std::memcpy(dst + i, src + i, 32);
  for (; i < n; ++i) dst[i] = src[i];
}

// unfold's kernel: cols[n][(c kH + i) kW + j][y oW + x] = img[n][c][y s0 - p0 + i d0][x s1 - p1 + j d1],
// 0 outside the image. Shared among threads by (n, c) planes, each writing its own rows.
template <class T>
void im2col(const T* img, T* cols, const FoldGeometry& g, ColsLayout lay) {
  const std::int64_t kk = g.k[0] * g.k[1], plane = g.h * g.w;
  const auto inside = g.inside_all();
  kernels::for_items(g.n * g.c, plane * kk, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t nc = b; nc < e; ++nc) {
      const T* src = img + nc * plane;
      T* dst = cols + (nc / g.c) * lay.sample + (nc % g.c) * kk * lay.row;
      if (g.p == Size2{0, 0} && g.s == Size2{1, 1}) {  // every window inside: plain row copies
        for (std::int64_t i = 0; i < g.k[0]; ++i)
          for (std::int64_t j = 0; j < g.k[1]; ++j, dst += lay.row) {
            const T* from = src + i * g.d[0] * g.w + j * g.d[1];
            for (std::int64_t y = 0; y < g.oh; ++y) copy_row(from + y * g.w, dst + y * g.ow, g.ow);
          }
        continue;
      }
      for (std::int64_t i = 0; i < g.k[0]; ++i)
        for (std::int64_t j = 0; j < g.k[1]; ++j, dst += lay.row)
          for (std::int64_t y = 0; y < g.oh; ++y) {
            const std::int64_t r = y * g.s[0] - g.p[0] + i * g.d[0];
            T* out = dst + y * g.ow;
            if (r < 0 || r >= g.h) {
              std::fill(out, out + g.ow, T(0));
              continue;
            }
            const auto [x0, x1] = inside[static_cast<std::size_t>(j)];
            const T* row = src + j * g.d[1] - g.p[1];  // row[x s1] is window x's element
            for (std::int64_t x = 0; x < x0; ++x) out[x] = T(0);
            if (g.s[1] == 1)
              copy_row(row + r * g.w + x0, out + x0, x1 - x0);
            else
              for (std::int64_t x = x0; x < x1; ++x) out[x] = row[r * g.w + x * g.s[1]];
            for (std::int64_t x = x1; x < g.ow; ++x) out[x] = T(0);
          }
    }
  });
}

// fold's kernel, the adjoint: img (zeroed) += each column entry at its place; padding entries
// are dropped. A (n, c) plane only receives its own rows, so planes are shared among threads.
template <class T>
void col2im(const T* cols, T* img, const FoldGeometry& g, ColsLayout lay) {
  const std::int64_t kk = g.k[0] * g.k[1], plane = g.h * g.w;
  const auto inside = g.inside_all();
  kernels::for_items(g.n * g.c, plane * kk, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t nc = b; nc < e; ++nc) {
      T* dst = img + nc * plane;
      const T* src = cols + (nc / g.c) * lay.sample + (nc % g.c) * kk * lay.row;
      if (g.p == Size2{0, 0} && g.s == Size2{1, 1}) {  // every window inside: plain row sums
        for (std::int64_t i = 0; i < g.k[0]; ++i)
          for (std::int64_t j = 0; j < g.k[1]; ++j, src += lay.row) {
            T* to = dst + i * g.d[0] * g.w + j * g.d[1];
            for (std::int64_t y = 0; y < g.oh; ++y) {
              T* __restrict row = to + y * g.w;
              const T* __restrict in = src + y * g.ow;
              for (std::int64_t x = 0; x < g.ow; ++x) row[x] += in[x];
            }
          }
        continue;
      }
      for (std::int64_t i = 0; i < g.k[0]; ++i)
        for (std::int64_t j = 0; j < g.k[1]; ++j, src += lay.row)
          for (std::int64_t y = 0; y < g.oh; ++y) {
            const std::int64_t r = y * g.s[0] - g.p[0] + i * g.d[0];
            if (r < 0 || r >= g.h) continue;
            const auto [x0, x1] = inside[static_cast<std::size_t>(j)];
            T* row = dst + r * g.w + j * g.d[1] - g.p[1];  // row[x s1] is window x's element
            const T* in = src + y * g.ow;
            if (g.s[1] == 1)
              for (std::int64_t x = x0; x < x1; ++x) row[x] += in[x];  // contiguous: vectorized
            else
              for (std::int64_t x = x0; x < x1; ++x) row[x * g.s[1]] += in[x];
          }
    }
  });
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

// The windows of `kernel` over a 4-D image of `shape` (`input`: the shape the user gave).
FoldGeometry fold_geometry(const char* op, const Shape& shape, Size2 kernel, const FoldOptions& opt,
                           const Shape& input) {
  check_positive(op, "kernel size", kernel, 1);
  check_positive(op, "stride", opt.stride, 1);
  check_positive(op, "dilation", opt.dilation, 1);
  check_positive(op, "padding", opt.padding, 0);
  const Shape padded = {shape[0], shape[1], shape[2] + 2 * opt.padding[0], shape[3] + 2 * opt.padding[1]};
  check_fits(op, padded, kernel, opt.dilation, input);
  FoldGeometry g{shape[0], shape[1], shape[2], shape[3], kernel, opt.stride, opt.padding, opt.dilation, 0, 0};
  g.oh = (padded[2] - opt.dilation[0] * (kernel[0] - 1) - 1) / opt.stride[0] + 1;
  g.ow = (padded[3] - opt.dilation[1] * (kernel[1] - 1) - 1) / opt.stride[1] + 1;
  return g;
}

// unfold of a 4-D x and fold back to a [N, C, H, W] image: the kernels, each recorded with the
// other as its gradient.
Tensor unfold4(const Tensor& x, const FoldGeometry& g);
Tensor fold4(const Tensor& cols, const FoldGeometry& g);

// d unfold(x) = fold(g)
Tensor unfold4(const Tensor& x_in, const FoldGeometry& g) {
  const Tensor x = x_in.contiguous();
  Tensor out = detail::empty_for({g.n, g.rows(), g.cols()}, x.dtype(), "unfold");
  {
    NoGradGuard ng;
    dispatch_float(x.dtype(), "unfold", [&]<class T>() {
      im2col(x.data_ptr<T>(), out.data_ptr<T>(), g, {g.rows() * g.cols(), g.cols()});
    });
  }
  return record("unfold", out, {x_in}, [g](const Tensor& gr, const Tensor&) { return GradList{fold4(gr, g)}; });
}

// d fold(cols) = unfold(g)
Tensor fold4(const Tensor& cols_in, const FoldGeometry& g) {
  const Tensor cols = cols_in.contiguous();
  Tensor out = detail::empty_for({g.n, g.c, g.h, g.w}, cols.dtype(), "fold");
  {
    NoGradGuard ng;
    out.zero_();
    dispatch_float(cols.dtype(), "fold", [&]<class T>() {
      col2im(cols.data_ptr<T>(), out.data_ptr<T>(), g, {g.rows() * g.cols(), g.cols()});
    });
  }
  return record("fold", out, {cols_in}, [g](const Tensor& gr, const Tensor&) { return GradList{unfold4(gr, g)}; });
}

// ---- conv2d as one op: the batch in chunks of samples, each chunk's windows unfolded into a
// scratch buffer that stays in the cache ([K, B L] columns, K = C kH kW), multiplied by the
// weights in one GEMM per group, and dropped; the backward unfolds each chunk again for the
// weight gradient. Nothing of size N K L is ever stored, and the GEMMs are [O/G, K/G] x
// [K/G, B L] with B L >= 256 columns where the batch allows.

// Samples per chunk: enough windows for a wide GEMM (>= 256 columns), while the chunk's columns
// stay within ~512 KiB.
std::int64_t chunk_samples(const FoldGeometry& g, std::size_t elem) {
  const std::int64_t l = std::max<std::int64_t>(g.cols(), 1), k = std::max<std::int64_t>(g.rows(), 1);
  const std::int64_t wide = (256 + l - 1) / l;
  const std::int64_t fits =
      std::max<std::int64_t>(1, (std::int64_t{512} << 10) / (k * l * static_cast<std::int64_t>(elem)));
  return std::clamp<std::int64_t>(std::min(wide, fits), 1, std::max<std::int64_t>(g.n, 1));
}

// A buffer from the tensor memory cache (memory.h), for a kernel's scratch.
template <class T>
struct Scratch {
  explicit Scratch(std::int64_t n)
      : bytes(static_cast<std::size_t>(std::max<std::int64_t>(n, 1)) * sizeof(T)),
        p(static_cast<T*>(detail::allocate_buffer(bytes))) {}
  ~Scratch() { detail::free_buffer(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::size_t bytes;
  T* p;
};

struct ConvShape {
  FoldGeometry g;       // the (padded) input's windows
  std::int64_t groups;  // G
  std::int64_t oc;      // output channels
  std::int64_t kg() const { return g.rows() / groups; }
  std::int64_t ocg() const { return oc / groups; }
};

// The chunks of a convolution are split into at most kSlots contiguous slots, which the threads
// share; a slot works through its chunks in order. The weight gradient is summed per slot, then
// over the slots in order, so its bits do not depend on the thread count.
constexpr std::int64_t kSlots = 8;

// f(first, last) for each slot's chunks [first, last), the slots shared among the threads; the
// first exception is rethrown on the calling thread once every slot has finished.
template <class F>
void over_slots(std::int64_t chunks, std::int64_t slots, std::int64_t cost, F f) {
  std::exception_ptr error;
  std::mutex mu;
  kernels::for_ranges(slots, cost, [&](std::int64_t s0, std::int64_t s1) {
    for (std::int64_t s = s0; s < s1; ++s) {
      try {
        f(s, chunks * s / slots, chunks * (s + 1) / slots);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!error) error = std::current_exception();
      }
    }
  });
  if (error) std::rethrow_exception(error);
}

// y[n, o, l] = sum_k w[o, k] cols_n[k, l], per group
template <class T>
void conv_forward(const T* x, const T* w, T* y, const ConvShape& cs) {
  const FoldGeometry& g = cs.g;
  const std::int64_t K = g.rows(), L = g.cols(), kg = cs.kg(), ocg = cs.ocg(), img = g.c * g.h * g.w;
  const std::int64_t B = chunk_samples(g, sizeof(T)), chunks = (g.n + B - 1) / B;
  const std::int64_t slots = std::min(chunks, kSlots);
  over_slots(chunks, slots, K * B * L * ocg / slots * chunks, [&](std::int64_t, std::int64_t c0, std::int64_t c1) {
    Scratch<T> cols(K * B * L), out(cs.oc * B * L);
    for (std::int64_t ch = c0; ch < c1; ++ch) {
      const std::int64_t n0 = ch * B, nb = std::min(B, g.n - n0), cl = nb * L;
      FoldGeometry gc = g;
      gc.n = nb;
      im2col(x + n0 * img, cols.p, gc, {L, cl});  // [K, nb L]
      for (std::int64_t q = 0; q < cs.groups; ++q)
        kernels::gemm(false, false, ocg, cl, kg, w + q * ocg * kg, kg, cols.p + q * kg * cl, cl, out.p + q * ocg * cl,
                      cl);
      for (std::int64_t b = 0; b < nb; ++b)  // [O, nb, L] -> y[n0 + b, O, L]
        for (std::int64_t o = 0; o < cs.oc; ++o)
          std::memcpy(y + ((n0 + b) * cs.oc + o) * L, out.p + o * cl + b * L, static_cast<std::size_t>(L) * sizeof(T));
    }
  });
}

// dw[o, k] = sum_n sum_l gy[n, o, l] cols_n[k, l];  dcols_n = w^T gy_n, folded back into dx_n
template <class T>
void conv_backward(const T* x, const T* w, const T* gy, T* dx, T* dw, const ConvShape& cs) {
  const FoldGeometry& g = cs.g;
  const std::int64_t K = g.rows(), L = g.cols(), kg = cs.kg(), ocg = cs.ocg(), img = g.c * g.h * g.w;
  const std::int64_t B = chunk_samples(g, sizeof(T)), chunks = (g.n + B - 1) / B;
  const std::int64_t slots = std::min(chunks, kSlots), wsize = cs.oc * kg;
  Scratch<T> sums(dw ? slots * wsize : 1);  // each slot's share of dw
  if (dw) std::fill(sums.p, sums.p + slots * wsize, T(0));
  if (dx) std::fill(dx, dx + g.n * img, T(0));
  over_slots(chunks, slots, K * B * L * ocg / slots * chunks, [&](std::int64_t s, std::int64_t c0, std::int64_t c1) {
    Scratch<T> cols(K * B * L), gch(cs.oc * B * L), part(wsize);
    T* acc = dw ? sums.p + s * wsize : nullptr;
    for (std::int64_t ch = c0; ch < c1; ++ch) {
      const std::int64_t n0 = ch * B, nb = std::min(B, g.n - n0), cl = nb * L;
      FoldGeometry gc = g;
      gc.n = nb;
      for (std::int64_t b = 0; b < nb; ++b)  // gy[n0 + b, O, L] -> [O, nb L]
        for (std::int64_t o = 0; o < cs.oc; ++o)
          std::memcpy(gch.p + o * cl + b * L, gy + ((n0 + b) * cs.oc + o) * L, static_cast<std::size_t>(L) * sizeof(T));
      if (dw) {
        im2col(x + n0 * img, cols.p, gc, {L, cl});
        for (std::int64_t q = 0; q < cs.groups; ++q)
          kernels::gemm(false, true, ocg, kg, cl, gch.p + q * ocg * cl, cl, cols.p + q * kg * cl, cl,
                        part.p + q * ocg * kg, kg);
        for (std::int64_t i = 0; i < wsize; ++i) acc[i] += part.p[i];  // the slot's chunks in order
      }
      if (dx) {
        for (std::int64_t q = 0; q < cs.groups; ++q)
          kernels::gemm(true, false, kg, cl, ocg, w + q * ocg * kg, kg, gch.p + q * ocg * cl, cl, cols.p + q * kg * cl,
                        cl);
        col2im(cols.p, dx + n0 * img, gc, {L, cl});
      }
    }
  });
  if (dw) {
    std::copy(sums.p, sums.p + wsize, dw);
    for (std::int64_t s = 1; s < slots; ++s)  // the slots in order
      for (std::int64_t i = 0; i < wsize; ++i) dw[i] += sums.p[s * wsize + i];
  }
}

// The convolution of a padded 4-D x with weights [O, C/G, kH, kW], no bias.
// d conv(x, w) = (fold(w^T g), sum_n g_n unfold(x)_n^T): streamed as above in a first-order
// backward; composed of unfold, matmul and fold when the backward is itself recorded
// (create_graph), so every derivative order follows.
Tensor conv_core(const Tensor& xp_in, const Tensor& weight_in, const ConvShape& cs) {
  const Tensor xp = xp_in.contiguous(), weight = weight_in.contiguous();
  const FoldGeometry& g = cs.g;
  Tensor y = detail::empty_for({g.n, cs.oc, g.oh, g.ow}, xp.dtype(), "conv2d");
  {
    NoGradGuard ng;
    dispatch_float(xp.dtype(), "conv2d",
                   [&]<class T>() { conv_forward(xp.data_ptr<T>(), weight.data_ptr<T>(), y.data_ptr<T>(), cs); });
  }
  const bool need_x = xp_in.requires_grad(), need_w = weight_in.requires_grad();
  return record(
      "conv2d", y, {xp_in, weight_in},
      [sx = need_w ? SavedTensor(xp_in) : SavedTensor(), sw = SavedTensor(weight_in), cs, need_x, need_w](
          const Tensor& gr, const Tensor&) {
        const Tensor W = sw.get();
        const Tensor X = need_w ? sx.get() : Tensor();
        const FoldGeometry& geo = cs.g;
        const std::int64_t L = geo.cols(), kg = cs.kg(), ocg = cs.ocg();
        if (!GradMode::is_enabled() && gr.dtype() == W.dtype()) {  // first order: streamed
          const Tensor gc = gr.contiguous(), wc = W.contiguous(), xc = need_w ? X.contiguous() : Tensor();
          Tensor dx = need_x ? detail::empty_for({geo.n, geo.c, geo.h, geo.w}, W.dtype(), "conv2d") : Tensor();
          Tensor dw = need_w ? detail::empty_for(W.shape(), W.dtype(), "conv2d") : Tensor();
          dispatch_float(W.dtype(), "conv2d", [&]<class T>() {
            conv_backward(need_w ? xc.data_ptr<T>() : nullptr, wc.data_ptr<T>(), gc.data_ptr<T>(),
                          need_x ? dx.data_ptr<T>() : nullptr, need_w ? dw.data_ptr<T>() : nullptr, cs);
          });
          return GradList{dx, dw};
        }
        const Tensor g4 = gr.reshape({geo.n, cs.groups, ocg, L});
        const Tensor wg = W.reshape({cs.groups, ocg, kg});
        Tensor dx, dw;
        if (need_x) dx = fold4(matmul_t(wg, g4, true, false).reshape({geo.n, geo.rows(), L}), geo);
        if (need_w)
          dw = sum(matmul_t(g4, unfold4(X, geo).reshape({geo.n, cs.groups, kg, L}), false, true), {0})
                   .reshape(W.shape());
        return GradList{dx, dw};
      });
}

}  // namespace

Tensor unfold(const Tensor& x_in, Size2 kernel, const FoldOptions& opt) {
  const Tensor x = as_batch(x_in, "unfold");
  const FoldGeometry g = fold_geometry("unfold", x.shape(), kernel, opt, x_in.shape());
  const Tensor cols = unfold4(x, g);
  return x_in.dim() == 3 ? cols.squeeze(0) : cols;
}

Tensor fold(const Tensor& cols_in, Size2 output_size, Size2 kernel, const FoldOptions& opt) {
  check_floating(cols_in, "fold", "input");
  if (cols_in.dim() != 2 && cols_in.dim() != 3)
    throw Error("fold: the input must be [N, C*kH*kW, L] or [C*kH*kW, L], got shape " + shape_str(cols_in.shape()));
  const Tensor cols = cols_in.dim() == 3 ? cols_in : cols_in.unsqueeze(0);
  check_positive("fold", "kernel size", kernel, 1);
  check_positive("fold", "output size", output_size, 1);
  const std::int64_t kk = kernel[0] * kernel[1];
  if (cols.size(1) % kk != 0)
    throw Error("fold: the input " + shape_str(cols_in.shape()) + " has " + std::to_string(cols.size(1)) +
                " rows, not a multiple of the kernel's " + std::to_string(kk) + " elements " + pair_str(kernel));
  const Shape image = {cols.size(0), cols.size(1) / kk, output_size[0], output_size[1]};
  const FoldGeometry g = fold_geometry("fold", image, kernel, opt, image);
  if (cols.size(2) != g.cols())
    throw Error("fold: the input " + shape_str(cols_in.shape()) + " has " + std::to_string(cols.size(2)) +
                " columns, but an output of " + pair_str(output_size) + " with kernel " + pair_str(kernel) +
                " and these options has " + std::to_string(g.cols()) + " windows");
  const Tensor y = fold4(cols, g);
  return cols_in.dim() == 2 ? y.squeeze(0) : y;
}

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
// h*s + i*d, w*s + j*d] + bias[o]: the weights [G, O/G, K] times the windows as columns, K =
// C/G * kH * kW (conv_core).
Tensor conv2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  const Tensor x = as_batch(x_in, "conv2d");
  check_floating(weight, "conv2d", "weight");
  if (weight.dim() != 4)
    throw Error("conv2d: the weight must be [out_channels, in_channels / groups, kH, kW], got shape " +
                shape_str(weight.shape()));
  const std::int64_t c = x.size(1), oc = weight.size(0), g = opt.groups;
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
  Tensor xp = x;
  FoldOptions fo{.stride = opt.stride, .padding = opt.padding, .dilation = opt.dilation};
  if (opt.same) {
    if (opt.stride != Size2{1, 1})
      throw Error("conv2d: padding 'same' needs stride 1, got stride " + pair_str(opt.stride));
    // the total padding dilation * (k - 1), the odd element after (as PyTorch)
    const std::int64_t th = opt.dilation[0] * (k[0] - 1), tw = opt.dilation[1] * (k[1] - 1);
    fo.padding = {th / 2, tw / 2};
    if (th % 2 || tw % 2) {  // uneven: pad the extra element first
      xp = pad(x, {0, tw % 2, 0, th % 2});
    }
  }
  const FoldGeometry geo = fold_geometry("conv2d", xp.shape(), k, fo, x_in.shape());
  Tensor y = conv_core(xp, weight, {.g = geo, .groups = g, .oc = oc});
  if (bias.defined()) y = y + bias.reshape({1, oc, 1, 1});
  return x_in.dim() == 3 ? y.squeeze(0) : y;
}

// y = fold(W^T x): each input pixel spreads weight-scaled copies over its output window
Tensor conv_transpose2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose2dOptions& opt) {
  const Tensor x = as_batch(x_in, "conv_transpose2d");
  check_floating(weight, "conv_transpose2d", "weight");
  if (weight.dim() != 4)
    throw Error("conv_transpose2d: the weight must be [in_channels, out_channels / groups, kH, kW], got shape " +
                shape_str(weight.shape()));
  const std::int64_t n = x.size(0), c = x.size(1), g = opt.groups;
  if (g < 1 || c % g != 0 || weight.size(0) != c)
    throw Error("conv_transpose2d: the weight " + shape_str(weight.shape()) + " needs " +
                std::to_string(weight.size(0)) + " input channels divisible by groups = " + std::to_string(g) +
                ", but the input " + shape_str(x_in.shape()) + " has " + std::to_string(c));
  if (weight.dtype() != x.dtype())
    throw Error(std::string("conv_transpose2d: the input is ") + dtype_name(x.dtype()) + " but the weight is " +
                dtype_name(weight.dtype()) + "; convert one with .to()");
  check_positive("conv_transpose2d", "stride", opt.stride, 1);
  check_positive("conv_transpose2d", "dilation", opt.dilation, 1);
  check_positive("conv_transpose2d", "padding", opt.padding, 0);
  check_positive("conv_transpose2d", "output_padding", opt.output_padding, 0);
  for (int d = 0; d < 2; ++d)
    if (opt.output_padding[d] >= opt.stride[d])
      throw Error("conv_transpose2d: output_padding " + pair_str(opt.output_padding) +
                  " must be smaller than the stride " + pair_str(opt.stride));
  const Size2 k = {weight.size(2), weight.size(3)};
  const std::int64_t ocg = weight.size(1), oc = ocg * g, cg = c / g, h = x.size(2), w = x.size(3);
  const Size2 out = {
      (h - 1) * opt.stride[0] - 2 * opt.padding[0] + opt.dilation[0] * (k[0] - 1) + opt.output_padding[0] + 1,
      (w - 1) * opt.stride[1] - 2 * opt.padding[1] + opt.dilation[1] * (k[1] - 1) + opt.output_padding[1] + 1};
  if (out[0] < 1 || out[1] < 1)
    throw Error("conv_transpose2d: the output size " + pair_str(out) + " is empty for the input " +
                shape_str(x_in.shape()) + "; use less padding");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != oc || bias.dtype() != x.dtype()))
    throw Error("conv_transpose2d: the bias must be [" + std::to_string(oc) + "] " + dtype_name(x.dtype()) + ", got " +
                shape_str(bias.shape()) + " " + dtype_name(bias.dtype()));
  // columns [N, G, O/G * kH * kW, H * W] = W_g^T [O/G*k, C/G] @ x_g [C/G, H*W]
  const Tensor wg = weight.reshape({g, cg, ocg * k[0] * k[1]});
  const Tensor cols = matmul_t(wg, x.reshape({n, g, cg, h * w}), true, false);
  const FoldGeometry geo =
      fold_geometry("conv_transpose2d", {n, oc, out[0], out[1]}, k,
                    {.stride = opt.stride, .padding = opt.padding, .dilation = opt.dilation}, x_in.shape());
  if (geo.oh != h || geo.ow != w)  // cannot happen for the output size above; a guard for the geometry
    throw Error("conv_transpose2d: internal geometry mismatch for input " + shape_str(x_in.shape()));
  Tensor y = fold4(cols.reshape({n, oc * k[0] * k[1], h * w}), geo);
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

// Pooling windows: the stride defaults to the kernel, padding is at most half the kernel.
FoldGeometry pool_geometry(const char* op, const Tensor& x, Size2 kernel, const Pool2dOptions& opt,
                           const Shape& input) {
  check_positive(op, "kernel size", kernel, 1);
  check_positive(op, "stride", opt.stride, 0);
  check_positive(op, "padding", opt.padding, 0);
  if (2 * opt.padding[0] > kernel[0] || 2 * opt.padding[1] > kernel[1])
    throw Error(std::string(op) + ": padding " + pair_str(opt.padding) + " must be at most half the kernel " +
                pair_str(kernel));
  const Size2 stride = {opt.stride[0] ? opt.stride[0] : kernel[0], opt.stride[1] ? opt.stride[1] : kernel[1]};
  return fold_geometry(op, x.shape(), kernel, {.stride = stride, .padding = opt.padding}, input);
}

// Each window's first maximum (a NaN wins, as in PyTorch) as a flat index into its plane. The
// running maximum lives in registers, so a compiler makes the selects conditional moves, not
// branches. A plane is first searched with a plain `>`; only a plane holding a NaN is searched
// again with the NaN-aware comparison.
// One output row of a 2x2, stride-2 max pool over input rows r0 and r1 (offset `base` in the
// plane), branch-free so that it vectorizes: the first maximum of a, b, c, d with a plain `>`.
// Returns nonzero when a NaN was seen (the caller then redoes the plane NaN-aware).
template <class T>
int pool2x2_row(const T* __restrict r0, const T* __restrict r1, std::int64_t base, std::int64_t w, std::int64_t ow,
                std::int64_t* __restrict idx, T* __restrict val) {
  int nan = 0;
  for (std::int64_t x = 0; x < ow; ++x) {
    const T a = r0[2 * x], b = r0[2 * x + 1], c = r1[2 * x], d = r1[2 * x + 1];
    T m = a;
    int k = 0;
    k = b > m ? 1 : k;
    m = b > m ? b : m;
    k = c > m ? 2 : k;
    m = c > m ? c : m;
    k = d > m ? 3 : k;
    m = d > m ? d : m;
    nan |= (a != a) | (b != b) | (c != c) | (d != d);
    const int off = (k & 1) + (k >> 1) * static_cast<int>(w);  // int: so that the loop vectorizes
    idx[x] = base + 2 * x + off;
    val[x] = m;
  }
  return nan;
}

template <class T, bool kNanAware>
bool plane_argmax(const T* src, std::int64_t* idx, T* val, const FoldGeometry& g) {
  bool nan = false;
  auto consider = [&](T v, std::int64_t at, T& bv, std::int64_t& bi) {
    bool take;
    if constexpr (kNanAware)
      take = !(v <= bv) & (bv == bv);  // v > best, or v is NaN and best is not
    else
      take = v > bv;
    nan |= v != v;
    bi = take ? at : bi;
    bv = take ? v : bv;
  };
  if constexpr (!kNanAware) {
    if (g.k == Size2{2, 2} && g.s == Size2{2, 2} && g.p == Size2{0, 0} && g.w < (1 << 30)) {  // the common 2x2 pool
      int any_nan = 0;
      for (std::int64_t y = 0; y < g.oh; ++y)
        any_nan |= pool2x2_row(src + 2 * y * g.w, src + (2 * y + 1) * g.w, 2 * y * g.w, g.w, g.ow, idx + y * g.ow,
                               val + y * g.ow);
      return any_nan != 0;
    }
  }
  for (std::int64_t y = 0; y < g.oh; ++y) {
    const std::int64_t r0 = std::max<std::int64_t>(y * g.s[0] - g.p[0], 0);
    const std::int64_t r1 = std::min(y * g.s[0] - g.p[0] + g.k[0], g.h);
    for (std::int64_t x = 0; x < g.ow; ++x) {
      const std::int64_t q0 = std::max<std::int64_t>(x * g.s[1] - g.p[1], 0);
      const std::int64_t q1 = std::min(x * g.s[1] - g.p[1] + g.k[1], g.w);
      std::int64_t bi = r0 * g.w + q0;
      T bv = src[bi];
      for (std::int64_t r = r0; r < r1; ++r)
        for (std::int64_t q = q0; q < q1; ++q) consider(src[r * g.w + q], r * g.w + q, bv, bi);
      idx[y * g.ow + x] = bi;
      val[y * g.ow + x] = bv;
    }
  }
  return nan;
}

template <class T>
void window_argmax(const T* img, std::int64_t* idx, T* val, const FoldGeometry& g) {
  const std::int64_t plane = g.h * g.w, l = g.cols();
  kernels::for_items(g.n * g.c, plane, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t nc = b; nc < e; ++nc)
      if (plane_argmax<T, false>(img + nc * plane, idx + nc * l, val + nc * l, g))
        plane_argmax<T, true>(img + nc * plane, idx + nc * l, val + nc * l, g);
  });
}

}  // namespace

// y[n, c, i, j] = x[n, c] at the window's first maximum: a gather of the plane at the indices
// d max_pool2d(x) = scatter_add(zeros(x.shape), idx, g), which gathers again in its own rule
ValuesIndices max_pool2d_with_indices(const Tensor& x_in, Size2 kernel, const Pool2dOptions& opt) {
  const Tensor x = as_batch(x_in, "max_pool2d").contiguous();
  const FoldGeometry g = pool_geometry("max_pool2d", x, kernel, opt, x_in.shape());
  Tensor idx = detail::empty_for({g.n, g.c, g.cols()}, kInt64, "max_pool2d");
  Tensor out = detail::empty_for({g.n, g.c, g.oh, g.ow}, x.dtype(), "max_pool2d");
  dispatch_float(x.dtype(), "max_pool2d", [&]<class T>() {
    window_argmax(x.data_ptr<T>(), idx.data_ptr<std::int64_t>(), out.data_ptr<T>(), g);
  });
  const Shape plane_shape = {g.n, g.c, g.h * g.w}, x_shape = x.shape();
  const Tensor values = record("max_pool2d", out, {x}, [plane_shape, x_shape, idx](const Tensor& gr, const Tensor&) {
    return GradList{
        scatter_add(plane_shape, 2, idx, gr.reshape({plane_shape[0], plane_shape[1], -1})).reshape(x_shape)};
  });
  idx = idx.reshape({g.n, g.c, g.oh, g.ow});
  if (x_in.dim() == 3) return {values.squeeze(0), idx.squeeze(0)};
  return {values, idx};
}

Tensor max_pool2d(const Tensor& x, Size2 kernel, const Pool2dOptions& opt) {
  return max_pool2d_with_indices(x, kernel, opt).values;
}

// y[n, c, i, j] = mean of the window, padding zeros included (PyTorch's count_include_pad)
Tensor avg_pool2d(const Tensor& x_in, Size2 kernel, const Pool2dOptions& opt) {
  const Tensor x = as_batch(x_in, "avg_pool2d");
  const FoldGeometry g = pool_geometry("avg_pool2d", x, kernel, opt, x_in.shape());
  const Tensor y =
      mean(unfold4(x, g).reshape({g.n, g.c, kernel[0] * kernel[1], g.cols()}), {2}).reshape({g.n, g.c, g.oh, g.ow});
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
