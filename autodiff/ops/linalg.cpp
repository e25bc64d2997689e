// Matrix products on a GEMM library (kernels/gemm.h): one node per product, never n^3 scalar nodes.
#include <algorithm>
#include <cstring>

#include "adgraph/autodiff/kernels/gemm.h"
#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

// C[m,n] = op(A) op(B) with op = transpose when the flag is set; A, B row-major with leading
// dims lda, ldb; C contiguous.
template <class T>
void gemm(bool ta, bool tb, const T* a, const T* b, T* c, std::int64_t m, std::int64_t n, std::int64_t k,
          std::int64_t lda, std::int64_t ldb) {
  kernels::gemm(ta, tb, m, n, k, a, lda, b, ldb, c, n);
}

std::string pair_str(const Tensor& a, const Tensor& b) { return shape_str(a.shape()) + " and " + shape_str(b.shape()); }

// An operand as BLAS reads it: its matrices (last two dims, r x c) row-major with leading dim
// `ld`. A column-major layout (a transposed view) is read in place with the transpose flag
// flipped; any other layout is copied once.
struct BlasOperand {
  Tensor t;
  bool trans;
  std::int64_t ld;
};
BlasOperand blas_operand(const Tensor& x, bool trans) {
  const std::int64_t r = x.size(-2), c = x.size(-1), sr = x.stride(-2), sc = x.stride(-1);
  if ((sc == 1 || c <= 1) && (r <= 1 || sr >= std::max<std::int64_t>(c, 1)))
    return {x, trans, r <= 1 ? std::max<std::int64_t>(c, 1) : sr};
  if ((sr == 1 || r <= 1) && (c <= 1 || sc >= std::max<std::int64_t>(r, 1)))
    return {x, !trans, c <= 1 ? std::max<std::int64_t>(r, 1) : sc};
  return {x.contiguous(), trans, std::max<std::int64_t>(c, 1)};
}

// op(A) op(B) for [..., *, *] operands with broadcast batch dims; both at least 2-D.
Tensor batched_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const std::int64_t m = a.size(ta ? -1 : -2), k = a.size(ta ? -2 : -1);
  const std::int64_t kb = b.size(tb ? -1 : -2), n = b.size(tb ? -2 : -1);
  if (kb != k)
    throw Error("matmul: shapes " + pair_str(a, b) + (ta || tb ? " (with transposes)" : "") +
                " cannot be multiplied (" + std::to_string(k) + " columns vs " + std::to_string(kb) +
                " rows); the last dim of the first must equal the second-to-last of the second — transpose one?");
  const Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape out_shape = broadcast_shapes(ba, bb, "matmul (batch dims)");
  const Shape batch_shape = out_shape;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = detail::empty_for(out_shape, a.dtype(), "matmul");
  const BlasOperand A = blas_operand(a, ta), B = blas_operand(b, tb);
  const Shape sa(A.t.strides().begin(), A.t.strides().end() - 2), sb(B.t.strides().begin(), B.t.strides().end() - 2);
  dispatch_float(a.dtype(), "matmul", [&]<class T>() {
    const T *pa = A.t.strided_data_ptr<T>(), *pb = B.t.strided_data_ptr<T>();
    T* po = out.data_ptr<T>();
    if (k == 0) std::fill(po, po + out.numel(), T(0));
    if (k == 0 || m == 0 || n == 0) return;
    if (batch_shape.empty()) return gemm(A.trans, B.trans, pa, pb, po, m, n, k, A.ld, B.ld);
    std::int64_t bi = 0;
    kernels::broadcast_rows<2>(batch_shape,
                               {broadcast_strides(ba, sa, batch_shape), broadcast_strides(bb, sb, batch_shape)},
                               [&](std::int64_t, const auto& base, std::int64_t len, const auto& st) {
                                 for (std::int64_t j = 0; j < len; ++j, ++bi)
                                   gemm(A.trans, B.trans, pa + base[0] + j * st[0], pb + base[1] + j * st[1],
                                        po + bi * m * n, m, n, k, A.ld, B.ld);
                               });
  });
  return out;
}

}  // namespace

// C = op(A) op(B):
//   A B     -> dA = G B^T,   dB = A^T G
//   A B^T   -> dA = G B,     dB = G^T A
//   A^T B   -> dA = B G^T,   dB = A G
//   A^T B^T -> dA = B^T G^T, dB = G^T A^T
// Each gradient is again a matmul_t, so the family is closed under differentiation and BLAS
// reads the transposes in place (no copies). Batch broadcasting is summed back by the engine.
Tensor matmul_t(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  if (a.dtype() != b.dtype()) {  // promoted with recorded conversions: BLAS multiplies one dtype
    const Dtype dt = promote_types(a.dtype(), b.dtype());
    return matmul_t(a.to(dt), b.to(dt), ta, tb);
  }
  if (a.dim() < 2 || b.dim() < 2)
    throw Error("matmul_t: both operands need at least two dims, got shapes " + pair_str(a, b) +
                "; use matmul for vectors");
  Tensor out = batched_matmul(a, b, ta, tb);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record("matmul", out, {a, b},
                [sa = gb ? SavedTensor(a) : SavedTensor(), sb = ga ? SavedTensor(b) : SavedTensor(), ga, gb, ta, tb](
                    const Tensor& g, const Tensor&) {  // each operand saved only for the other's gradient
                  const Tensor &A = sa.get(), &B = sb.get();
                  Tensor da, db;
                  if (ga) da = ta ? matmul_t(B, g, tb, true) : matmul_t(g, B, false, !tb);
                  if (gb) db = tb ? matmul_t(g, A, true, ta) : matmul_t(A, g, !ta, false);
                  return GradList{da, db};
                });
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    const Dtype dt = promote_types(a.dtype(), b.dtype());
    return matmul(a.to(dt), b.to(dt));
  }
  if (a.dim() == 0 || b.dim() == 0)
    throw Error("matmul: both operands need at least one dim, got shapes " + pair_str(a, b) + "; use mul for scalars");
  if (a.dim() == 1 && b.dim() == 1) {
    if (a.size(0) != b.size(0))
      throw Error("matmul: dot product of vectors of different lengths, shapes " + pair_str(a, b));
    return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  return matmul_t(a, b, false, false);
}

Tensor Tensor::matmul(const Tensor& other) const { return ad::matmul(*this, other); }

}  // namespace ad
