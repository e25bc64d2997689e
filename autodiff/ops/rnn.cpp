// Recurrent cells: the elementwise part of an LSTM or GRU time step, each in one op (the
// products with the weights stay matmuls). One op per step instead of a dozen saves their nodes,
// the narrow views' scattered gradients and the temporaries; nn/rnn.cpp's layers use them.
//
// The forward runs the composite formula's kernels in its order (kernels::unary / binary, row by
// row), so it gives the composite's bits. The backward is written in differentiable ops (so
// gradgradcheck passes); when it is not itself recorded (no create_graph) the same operations
// run row by row in scratch buffers instead of as a dozen tensors, again with the same bits.
#include <vector>

#include "adgraph/autodiff/ops/common.h"

namespace ad {
namespace {

using kernels::Binary;
using kernels::Unary;

// Row kernels on contiguous spans of n elements.
template <class T>
void un(Unary op, const T* a, T* out, std::int64_t n) {
  kernels::unary(op, a, 1, out, n);
}
template <class T>
void bin(Binary op, const T* a, const T* b, T* out, std::int64_t n) {
  kernels::binary(op, a, 1, b, 1, out, n);
}
template <class T>
void bin_scalar(Binary op, T a, const T* b, T* out, std::int64_t n) {  // op(a, b[j])
  kernels::binary(op, &a, 0, b, 1, out, n);
}
// s * sigmoid(-x) with s = sigmoid(x) (sigmoid's derivative, as the composite rule has it) in
// out; tmp is scratch. (The unary kernels take no aliasing: their operands are restrict.)
template <class T>
void sigmoid_slope(const T* x, const T* s, T* tmp, T* out, std::int64_t n) {
  un(Unary::neg, x, out, n);
  un(Unary::sigmoid, out, tmp, n);
  bin(Binary::mul, s, tmp, out, n);
}

void check_float_2d(const Tensor& t, const char* op, const char* what) {
  if (!t.defined()) throw Error(std::string(op) + ": " + what + " is an undefined tensor");
  if (!is_floating(t.dtype()) || t.dim() != 2)
    throw Error(std::string(op) + ": " + what + " must be a floating [batch, features] tensor, got " +
                dtype_name(t.dtype()) + " " + shape_str(t.shape()));
}
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* an, const char* bn) {
  if (a.dtype() != b.dtype())
    throw Error(std::string(op) + ": " + an + " is " + dtype_name(a.dtype()) + " but " + bn + " is " +
                dtype_name(b.dtype()) + "; convert one with .to()");
}

// gates [N, 4H] and a state [N, H] (c or c'): H, after the checks.
std::int64_t lstm_checks(const Tensor& gates, const Tensor& c, const char* op, const char* cname) {
  check_float_2d(gates, op, "gates");
  check_float_2d(c, op, cname);
  check_same_dtype(gates, c, op, "gates", cname);
  const std::int64_t H = c.size(1);
  if (gates.size(0) != c.size(0) || gates.size(1) != 4 * H)
    throw Error(std::string(op) + ": gates of shape " + shape_str(gates.shape()) + " and " + cname + " of shape " +
                shape_str(c.shape()) + " do not fit; gates must be [N, 4 * H] (blocks i, f, g, o) for " + cname +
                " [N, H]");
  return H;
}

// The backward rules in differentiable ops: what runs when the backward is recorded, and what the
// fused loops below compute in the same order.
GradList lstm_state_backward_composite(const Tensor& g, const Tensor& G, const Tensor& c, std::int64_t H) {
  const Tensor Gi = G.narrow(1, 0, H), Gf = G.narrow(1, H, H), Gg = G.narrow(1, 2 * H, H);
  const Tensor i = sigmoid(Gi), f = sigmoid(Gf), t = tanh(Gg);
  const Tensor di = mul_grad(g, t * (i * sigmoid(-Gi)));
  const Tensor df = mul_grad(g, c * (f * sigmoid(-Gf)));
  const Tensor dg = mul_grad(g, i * (1.0 - t * t));
  return {cat({di, df, dg, zeros_like(di)}, 1), mul_grad(g, f)};
}
GradList lstm_output_backward_composite(const Tensor& g, const Tensor& G, const Tensor& c, std::int64_t H) {
  const Tensor Go = G.narrow(1, 3 * H, H);
  const Tensor o = sigmoid(Go), t = tanh(c);
  const Tensor d_o = mul_grad(g, t * (o * sigmoid(-Go)));
  return {cat({zeros(Shape{G.size(0), 3 * H}, dtype(G.dtype())), d_o}, 1), mul_grad(g, o * (1.0 - t * t))};
}

// The fused backward may run: not recorded, and a floating g of the output's dtype.
bool fused_backward(const Tensor& g, Dtype dt) { return !GradMode::is_enabled() && g.dtype() == dt; }

}  // namespace

// c' = sigmoid(f) c + sigmoid(i) tanh(g)
// d gates = [g tanh(g_) s_i', g c s_f', g s_i tanh'(g_), 0],  d c = g sigmoid(f)
Tensor lstm_cell_state(const Tensor& gates, const Tensor& c) {
  const char* op = "lstm_cell_state";
  const std::int64_t H = lstm_checks(gates, c, op, "c");
  const Tensor G = gates.contiguous(), cc = c.contiguous();
  const std::int64_t N = G.size(0);
  const bool keep = needs_grad({&gates, &c});
  Tensor out = detail::empty_for({N, H}, G.dtype(), op);
  // sigmoid(i), sigmoid(f), tanh(g) by row, kept for the backward when the op is recorded
  Tensor acts = detail::empty_for({keep ? N : 1, 3 * H}, G.dtype(), op);
  dispatch_float(G.dtype(), op, [&]<class T>() {
    std::vector<T> tmp(static_cast<std::size_t>(2 * H));
    for (std::int64_t n = 0; n < N; ++n) {
      const T* gr = G.data_ptr<T>() + n * 4 * H;
      T* act = acts.data_ptr<T>() + (keep ? n * 3 * H : 0);
      un(Unary::sigmoid, gr, act, 2 * H);  // i and f
      un(Unary::tanh, gr + 2 * H, act + 2 * H, H);
      bin(Binary::mul, act + H, cc.data_ptr<T>() + n * H, tmp.data(), H);
      bin(Binary::mul, act, act + 2 * H, tmp.data() + H, H);
      bin(Binary::add, tmp.data(), tmp.data() + H, out.data_ptr<T>() + n * H, H);
    }
  });
  return record(op, out, {gates, c},
                [sg = SavedTensor(gates), sc = SavedTensor(c), acts, H](const Tensor& g, const Tensor&) {
                  const Tensor& G_saved = sg.get();
                  const Tensor& c_saved = sc.get();
                  if (!fused_backward(g, G_saved.dtype())) return lstm_state_backward_composite(g, G_saved, c_saved, H);
                  const char* bop = "lstm_cell_state backward";
                  const Tensor Gc = G_saved.contiguous(), cc2 = c_saved.contiguous(), gc = g.contiguous();
                  const std::int64_t rows = Gc.size(0);
                  Tensor dG = detail::empty_for(Gc.shape(), Gc.dtype(), bop);
                  Tensor dc = detail::empty_for(cc2.shape(), Gc.dtype(), bop);
                  dispatch_float(Gc.dtype(), bop, [&]<class T>() {
                    std::vector<T> buf(static_cast<std::size_t>(2 * H));
                    T *a = buf.data(), *b = a + H;
                    for (std::int64_t n = 0; n < rows; ++n) {
                      const T *gr = Gc.data_ptr<T>() + n * 4 * H, *cr = cc2.data_ptr<T>() + n * H;
                      const T *g_r = gc.data_ptr<T>() + n * H, *i = acts.data_ptr<T>() + n * 3 * H;
                      const T *f = i + H, *t = f + H;
                      T* d = dG.data_ptr<T>() + n * 4 * H;
                      sigmoid_slope(gr, i, a, b, H);  // di = mul_grad(g, t * (i * sigmoid(-Gi)))
                      bin(Binary::mul, t, b, b, H);
                      bin(Binary::mul_grad, g_r, b, d, H);
                      sigmoid_slope(gr + H, f, a, b, H);  // df = mul_grad(g, c * (f * sigmoid(-Gf)))
                      bin(Binary::mul, cr, b, b, H);
                      bin(Binary::mul_grad, g_r, b, d + H, H);
                      bin(Binary::mul, t, t, a, H);  // dg = mul_grad(g, i * (1 - t * t))
                      bin_scalar(Binary::sub, T(1), a, a, H);
                      bin(Binary::mul, i, a, a, H);
                      bin(Binary::mul_grad, g_r, a, d + 2 * H, H);
                      std::fill(d + 3 * H, d + 4 * H, T(0));
                      bin(Binary::mul_grad, g_r, f, dc.data_ptr<T>() + n * H, H);  // dc = mul_grad(g, f)
                    }
                  });
                  return GradList{dG, dc};
                });
}

// h' = sigmoid(o) tanh(c')
// d gates = [0, 0, 0, g tanh(c') s_o'],  d c' = g sigmoid(o) (1 - tanh(c')^2)
Tensor lstm_cell_output(const Tensor& gates, const Tensor& c) {
  const char* op = "lstm_cell_output";
  const std::int64_t H = lstm_checks(gates, c, op, "c");
  const Tensor G = gates.contiguous(), cc = c.contiguous();
  const std::int64_t N = G.size(0);
  const bool keep = needs_grad({&gates, &c});
  Tensor out = detail::empty_for({N, H}, G.dtype(), op);
  Tensor acts = detail::empty_for({keep ? N : 1, 2 * H}, G.dtype(), op);  // sigmoid(o), tanh(c') by row
  dispatch_float(G.dtype(), op, [&]<class T>() {
    for (std::int64_t n = 0; n < N; ++n) {
      T* act = acts.data_ptr<T>() + (keep ? n * 2 * H : 0);
      un(Unary::sigmoid, G.data_ptr<T>() + n * 4 * H + 3 * H, act, H);
      un(Unary::tanh, cc.data_ptr<T>() + n * H, act + H, H);
      bin(Binary::mul, act, act + H, out.data_ptr<T>() + n * H, H);
    }
  });
  return record(op, out, {gates, c},
                [sg = SavedTensor(gates), sc = SavedTensor(c), acts, H](const Tensor& g, const Tensor&) {
                  const Tensor& G_saved = sg.get();
                  const Tensor& c_saved = sc.get();
                  if (!fused_backward(g, G_saved.dtype()))
                    return lstm_output_backward_composite(g, G_saved, c_saved, H);
                  const char* bop = "lstm_cell_output backward";
                  const Tensor Gc = G_saved.contiguous(), gc = g.contiguous();
                  const std::int64_t rows = Gc.size(0);
                  Tensor dG = detail::empty_for(Gc.shape(), Gc.dtype(), bop);
                  Tensor dc = detail::empty_for(c_saved.shape(), Gc.dtype(), bop);
                  dispatch_float(Gc.dtype(), bop, [&]<class T>() {
                    std::vector<T> buf(static_cast<std::size_t>(2 * H));
                    T *a = buf.data(), *b = a + H;
                    for (std::int64_t n = 0; n < rows; ++n) {
                      const T *go = Gc.data_ptr<T>() + n * 4 * H + 3 * H, *g_r = gc.data_ptr<T>() + n * H;
                      const T *o = acts.data_ptr<T>() + n * 2 * H, *t = o + H;
                      T* d = dG.data_ptr<T>() + n * 4 * H;
                      std::fill(d, d + 3 * H, T(0));
                      sigmoid_slope(go, o, a, b, H);  // d_o = mul_grad(g, t * (o * sigmoid(-Go)))
                      bin(Binary::mul, t, b, b, H);
                      bin(Binary::mul_grad, g_r, b, d + 3 * H, H);
                      bin(Binary::mul, t, t, a, H);  // dc = mul_grad(g, o * (1 - t * t))
                      bin_scalar(Binary::sub, T(1), a, a, H);
                      bin(Binary::mul, o, a, a, H);
                      bin(Binary::mul_grad, g_r, a, dc.data_ptr<T>() + n * H, H);
                    }
                  });
                  return GradList{dG, dc};
                });
}

namespace {

// The GRU step's operands after the checks: a = gi + b_ih, b = gh + b_hh (the biases optional).
std::int64_t gru_checks(const Tensor& gi, const Tensor& gh, const Tensor& h, const Tensor& b_ih, const Tensor& b_hh) {
  const char* op = "gru_cell";
  check_float_2d(gi, op, "gi");
  check_float_2d(gh, op, "gh");
  check_float_2d(h, op, "h");
  check_same_dtype(gi, gh, op, "gi", "gh");
  check_same_dtype(gi, h, op, "gi", "h");
  const std::int64_t N = h.size(0), H = h.size(1);
  if (gi.shape() != Shape{N, 3 * H} || gh.shape() != Shape{N, 3 * H})
    throw Error(std::string(op) + ": gi " + shape_str(gi.shape()) + " and gh " + shape_str(gh.shape()) +
                " must both be [N, 3 * H] = " + shape_str({N, 3 * H}) + " (blocks r, z, n) for h of shape " +
                shape_str(h.shape()));
  for (const Tensor* b : {&b_ih, &b_hh})
    if (b->defined()) {
      if (b->shape() != Shape{3 * H})
        throw Error(std::string(op) + ": a bias of shape " + shape_str(b->shape()) + " must be [3 * H] = [" +
                    std::to_string(3 * H) + "]");
      check_same_dtype(gi, *b, op, "gi", "the bias");
    }
  return H;
}

// The GRU step's backward in differentiable ops (a = gi, b = gh, before the biases).
GradList gru_backward_composite(const Tensor& g, Tensor a, Tensor b, const Tensor& h, const Tensor& b_ih,
                                const Tensor& b_hh, std::int64_t H) {
  if (b_ih.defined()) a = a + b_ih;
  if (b_hh.defined()) b = b + b_hh;
  const Tensor pre = a.narrow(1, 0, 2 * H) + b.narrow(1, 0, 2 * H);
  const Tensor rz = sigmoid(pre);
  const Tensor r = rz.narrow(1, 0, H), z = rz.narrow(1, H, H);
  const Tensor bn = b.narrow(1, 2 * H, H);
  const Tensor n = tanh(a.narrow(1, 2 * H, H) + r * bn);
  const Tensor dn = mul_grad(mul_grad(g, 1.0 - z), 1.0 - n * n);  // through n's pre-activation
  const Tensor drz = mul_grad(cat({mul_grad(dn, bn), mul_grad(g, h - n)}, 1), rz * sigmoid(-pre));
  const Tensor da = cat({drz, dn}, 1), db = cat({drz, mul_grad(dn, r)}, 1);
  return {da, db, mul_grad(g, z), b_ih.defined() ? da : Tensor(), b_hh.defined() ? db : Tensor()};
}

}  // namespace

// r, z = sigmoid(a_rz + b_rz), n = tanh(a_n + r b_n), h' = n + z (h - n), with a = gi + b_ih,
// b = gh + b_hh.  d n_pre = g (1 - z) tanh'(.), d rz_pre = [d n_pre b_n, g (h - n)] sigmoid'(.),
// d a = [d rz_pre, d n_pre], d b = [d rz_pre, d n_pre r], d h = g z; the biases take d a and d b.
Tensor gru_cell(const Tensor& gi, const Tensor& gh, const Tensor& h, const Tensor& b_ih, const Tensor& b_hh) {
  const char* op = "gru_cell";
  const std::int64_t H = gru_checks(gi, gh, h, b_ih, b_hh);
  const Tensor A = gi.contiguous(), B = gh.contiguous(), hc = h.contiguous();
  const Tensor bi = b_ih.defined() ? b_ih.contiguous() : Tensor(), bh = b_hh.defined() ? b_hh.contiguous() : Tensor();
  const std::int64_t N = hc.size(0);
  Tensor out = detail::empty_for({N, H}, hc.dtype(), op);
  dispatch_float(hc.dtype(), op, [&]<class T>() {
    std::vector<T> buf(static_cast<std::size_t>(12 * H));
    T *a = buf.data(), *b = a + 3 * H, *pre = b + 3 * H, *rz = pre + 2 * H, *p = rz + 2 * H, *n = p + H;
    for (std::int64_t r = 0; r < N; ++r) {
      const T *ar = A.data_ptr<T>() + r * 3 * H, *br = B.data_ptr<T>() + r * 3 * H;
      if (bi.defined()) {
        bin(Binary::add, ar, bi.data_ptr<T>(), a, 3 * H);
        ar = a;
      }
      if (bh.defined()) {
        bin(Binary::add, br, bh.data_ptr<T>(), b, 3 * H);
        br = b;
      }
      bin(Binary::add, ar, br, pre, 2 * H);
      un(Unary::sigmoid, pre, rz, 2 * H);
      bin(Binary::mul, rz, br + 2 * H, p, H);  // n = tanh(a_n + r b_n)
      bin(Binary::add, ar + 2 * H, p, p, H);
      un(Unary::tanh, p, n, H);
      T* o = out.data_ptr<T>() + r * H;  // h' = n + z (h - n)
      bin(Binary::sub, hc.data_ptr<T>() + r * H, n, o, H);
      bin(Binary::mul, rz + H, o, o, H);
      bin(Binary::add, n, o, o, H);
    }
  });
  return record(op, out, {gi, gh, h, b_ih, b_hh},
                [sa = SavedTensor(gi), sb = SavedTensor(gh), sh = SavedTensor(h), sbi = SavedTensor(b_ih),
                 sbh = SavedTensor(b_hh), H](const Tensor& g, const Tensor&) {
                  const Tensor &a_s = sa.get(), &b_s = sb.get(), &h_s = sh.get();
                  const Tensor bi_s = sbi.get(), bh_s = sbh.get();
                  if (!fused_backward(g, h_s.dtype())) return gru_backward_composite(g, a_s, b_s, h_s, bi_s, bh_s, H);
                  const Tensor Ac = a_s.contiguous(), Bc = b_s.contiguous(), hc2 = h_s.contiguous(),
                               gc = g.contiguous();
                  const Tensor bic = bi_s.defined() ? bi_s.contiguous() : Tensor();
                  const Tensor bhc = bh_s.defined() ? bh_s.contiguous() : Tensor();
                  const std::int64_t rows = hc2.size(0);
                  const char* bop = "gru_cell backward";
                  Tensor da = detail::empty_for(Ac.shape(), Ac.dtype(), bop);
                  Tensor db = detail::empty_for(Ac.shape(), Ac.dtype(), bop);
                  Tensor dh = detail::empty_for(hc2.shape(), Ac.dtype(), bop);
                  dispatch_float(Ac.dtype(), bop, [&]<class T>() {
                    std::vector<T> buf(static_cast<std::size_t>(18 * H));
                    T *a = buf.data(), *b = a + 3 * H, *pre = b + 3 * H, *rz = pre + 2 * H, *p = rz + 2 * H, *n = p + H,
                      *t1 = n + H, *t2 = t1 + 2 * H, *t3 = t2 + 2 * H;
                    for (std::int64_t r = 0; r < rows; ++r) {
                      const T *ar = Ac.data_ptr<T>() + r * 3 * H, *br = Bc.data_ptr<T>() + r * 3 * H;
                      const T *hr = hc2.data_ptr<T>() + r * H, *g_r = gc.data_ptr<T>() + r * H;
                      T *dar = da.data_ptr<T>() + r * 3 * H, *dbr = db.data_ptr<T>() + r * 3 * H;
                      if (bic.defined()) {
                        bin(Binary::add, ar, bic.data_ptr<T>(), a, 3 * H);
                        ar = a;
                      }
                      if (bhc.defined()) {
                        bin(Binary::add, br, bhc.data_ptr<T>(), b, 3 * H);
                        br = b;
                      }
                      bin(Binary::add, ar, br, pre, 2 * H);
                      un(Unary::sigmoid, pre, rz, 2 * H);
                      const T *bn = br + 2 * H, *z = rz + H;
                      bin(Binary::mul, rz, bn, p, H);
                      bin(Binary::add, ar + 2 * H, p, p, H);
                      un(Unary::tanh, p, n, H);
                      // dn = mul_grad(mul_grad(g, 1 - z), 1 - n * n), into da's n block
                      T* dn = dar + 2 * H;
                      bin_scalar(Binary::sub, T(1), z, t1, H);
                      bin(Binary::mul_grad, g_r, t1, t1, H);
                      bin(Binary::mul, n, n, t2, H);
                      bin_scalar(Binary::sub, T(1), t2, t2, H);
                      bin(Binary::mul_grad, t1, t2, dn, H);
                      // drz = mul_grad([mul_grad(dn, bn), mul_grad(g, h - n)], rz * sigmoid(-pre)), into da
                      bin(Binary::mul_grad, dn, bn, t1, H);
                      bin(Binary::sub, hr, n, t1 + H, H);
                      bin(Binary::mul_grad, g_r, t1 + H, t1 + H, H);
                      sigmoid_slope(pre, rz, t3, t2, 2 * H);
                      bin(Binary::mul_grad, t1, t2, dar, 2 * H);
                      std::copy(dar, dar + 2 * H, dbr);  // db = [drz, mul_grad(dn, r)]
                      bin(Binary::mul_grad, dn, rz, dbr + 2 * H, H);
                      bin(Binary::mul_grad, g_r, z, dh.data_ptr<T>() + r * H, H);  // dh = mul_grad(g, z)
                    }
                  });
                  return GradList{da, db, dh, bic.defined() ? da : Tensor(), bhc.defined() ? db : Tensor()};
                });
}

}  // namespace ad
