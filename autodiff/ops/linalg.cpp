// Matrix products on BLAS: one node per product, never n^3 scalar nodes.
#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "autodiff/ops/common.h"

namespace ad {
namespace {

void gemm(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f,
              a, static_cast<int>(k), b, static_cast<int>(n), 0.0f, c, static_cast<int>(n));
}
void gemm(const double* a, const double* b, double* c, std::int64_t m, std::int64_t n, std::int64_t k) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, a,
              static_cast<int>(k), b, static_cast<int>(n), 0.0, c, static_cast<int>(n));
}

std::string pair_str(const Tensor& a, const Tensor& b) { return shape_str(a.shape()) + " and " + shape_str(b.shape()); }

// [..., m, k] x [..., k, n] with broadcast batch dims; both at least 2-D.
Tensor batched_matmul(const Tensor& a, const Tensor& b) {
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  if (b.size(-2) != k)
    throw Error("matmul: shapes " + pair_str(a, b) + " cannot be multiplied (" + std::to_string(k) + " columns vs " +
                std::to_string(b.size(-2)) + " rows); the last dim of the first must equal the second-to-last of the second — transpose one?");
  const Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape out_shape = broadcast_shapes(ba, bb, "matmul (batch dims)");
  const std::int64_t batch = numel_of(out_shape);
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = empty(out_shape, dtype(a.dtype()));
  const Shape batch_shape(out_shape.begin(), out_shape.end() - 2);
  const Shape sa = broadcast_strides(ba, batch_shape), sb = broadcast_strides(bb, batch_shape);
  dispatch_float(a.dtype(), "matmul", [&]<class T>() {
    const T *pa = a.data_ptr<T>(), *pb = b.data_ptr<T>();
    T* po = out.data_ptr<T>();
    if (k == 0) std::fill(po, po + out.numel(), T(0));
    if (k == 0 || m == 0 || n == 0) return;
    if (batch_shape.empty()) return gemm(pa, pb, po, m, n, k);
    std::int64_t bi = 0;
    kernels::broadcast_rows<2>(batch_shape, {sa, sb}, [&](std::int64_t, const auto& base, std::int64_t len, const auto& st) {
      for (std::int64_t j = 0; j < len; ++j, ++bi)
        gemm(pa + (base[0] + j * st[0]) * m * k, pb + (base[1] + j * st[1]) * k * n, po + bi * m * n, m, n, k);
    });
  });
  (void)batch;
  return out;
}

}  // namespace

// d(A@B) = g @ B^T, A^T @ g   (batch broadcasting is summed back by the engine)
Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::check_same_dtype(a, b, "matmul");
  if (a.dim() == 0 || b.dim() == 0)
    throw Error("matmul: both operands need at least one dim, got shapes " + pair_str(a, b) + "; use mul for scalars");
  if (a.dim() == 1 && b.dim() == 1) {
    if (a.size(0) != b.size(0)) throw Error("matmul: dot product of vectors of different lengths, shapes " + pair_str(a, b));
    return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  Tensor out = batched_matmul(a, b);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record("matmul", out, {a, b}, [sa = SavedTensor(a), sb = SavedTensor(b), ga, gb](const Tensor& g, const Tensor&) {
    return GradList{ga ? matmul(g, sb.get().transpose(-1, -2)) : Tensor(), gb ? matmul(sa.get().transpose(-1, -2), g) : Tensor()};
  });
}

Tensor Tensor::matmul(const Tensor& other) const { return ad::matmul(*this, other); }

}  // namespace ad
