#include "adgraph/nn/rnn.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>
#include <vector>

namespace ad::nn {
namespace {

using Mode = RNNCellBase::Mode;
using ad::Tensor;

std::int64_t gates_of(Mode m) { return m == Mode::LSTM ? 4 : m == Mode::GRU ? 3 : 1; }

const char* layer_name(Mode m, bool cell) {
  switch (m) {
    case Mode::LSTM:
      return cell ? "LSTMCell" : "LSTM";
    case Mode::GRU:
      return cell ? "GRUCell" : "GRU";
    default:
      return cell ? "RNNCell" : "RNN";
  }
}

std::string str(std::int64_t v) { return std::to_string(v); }

void check_sizes(const char* layer, std::int64_t input, std::int64_t hidden, ad::Dtype dtype) {
  if (input <= 0 || hidden <= 0)
    throw ad::Error(std::string(layer) + ": sizes must be positive, got input_size=" + str(input) +
                    " hidden_size=" + str(hidden));
  if (!ad::is_floating(dtype))
    throw ad::Error(std::string(layer) + ": parameters need a floating dtype, got " + ad::dtype_name(dtype) +
                    "; use ad::kFloat32 or ad::kFloat64");
}

// weight_ih [G*H, in], weight_hh [G*H, H] and the biases [G*H], all U(-1/sqrt(H), 1/sqrt(H)),
// registered (and drawn) in PyTorch's order.
struct CellParams {
  Tensor w_ih, w_hh, b_ih, b_hh;
};
CellParams draw_params(std::int64_t gh, std::int64_t in, std::int64_t hidden, bool bias, ad::Dtype dtype,
                       ad::Generator* gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  CellParams p;
  p.w_ih = ad::uniform({gh, in}, -bound, bound, ad::dtype(dtype), gen);
  p.w_hh = ad::uniform({gh, hidden}, -bound, bound, ad::dtype(dtype), gen);
  if (bias) {
    p.b_ih = ad::uniform({gh}, -bound, bound, ad::dtype(dtype), gen);
    p.b_hh = ad::uniform({gh}, -bound, bound, ad::dtype(dtype), gen);
  }
  return p;
}

// The input checks shared by cells and layers: defined, floating, of the parameters' dtype.
void check_dtype(const char* layer, const Tensor& x, ad::Dtype want, const char* what) {
  if (!x.defined()) throw ad::Error(std::string(layer) + ": the " + what + " is an undefined tensor");
  if (!ad::is_floating(x.dtype()))
    throw ad::Error(std::string(layer) + ": needs a floating " + what + ", got " + ad::dtype_name(x.dtype()) + " " +
                    ad::shape_str(x.shape()) + "; convert it with .to(ad::k" + ad::dtype_name(want) + ")");
  if (x.dtype() != want)
    throw ad::Error(std::string(layer) + ": " + what + " dtype " + ad::dtype_name(x.dtype()) + " " +
                    ad::shape_str(x.shape()) + " does not match the layer's " + ad::dtype_name(want) +
                    "; convert it with .to(ad::k" + ad::dtype_name(want) + ") or build the layer with that dtype");
}

void check_state(const char* layer, const Tensor& s, const Shape& want, ad::Dtype dtype, const char* what,
                 const std::string& meaning) {
  if (!s.defined()) return;
  check_dtype(layer, s, dtype, what);
  if (s.shape() != want)
    throw ad::Error(std::string(layer) + ": " + what + " of shape " + ad::shape_str(s.shape()) + " must be " +
                    ad::shape_str(want) + " (" + meaning + ")");
}

// ---- one step of each cell, from the pre-activations

Tensor rnn_step(const Tensor& pre, Mode m) { return m == Mode::RNNReLU ? ad::relu(pre) : ad::tanh(pre); }

// gates [N, 4H] = the i, f, g, o blocks of W_ih x + b_ih + W_hh h + b_hh: (h', c').
std::pair<Tensor, Tensor> lstm_step(const Tensor& gates, const Tensor& c) {
  Tensor c2 = ad::lstm_cell_state(gates, c);
  return {ad::lstm_cell_output(gates, c2), std::move(c2)};
}

// The L time steps of x along `dim`, as views. When x requires grad, each view's gradient is
// scattered into zeros of its parent's shape: L selects of x would cost L times x in the
// backward, so the steps are cut by halving (log2 L levels, each twice the size of x in all).
void split_halves(const Tensor& x, std::int64_t dim, std::size_t offset, std::vector<Tensor>& out) {
  const std::int64_t n = x.size(dim);
  if (n == 1) {
    out[offset] = x.select(dim, 0);
    return;
  }
  const std::int64_t half = n / 2;
  split_halves(x.narrow(dim, 0, half), dim, offset, out);
  split_halves(x.narrow(dim, half, n - half), dim, offset + static_cast<std::size_t>(half), out);
}
std::vector<Tensor> time_steps(const Tensor& x, std::int64_t dim) {
  const auto steps = static_cast<std::size_t>(x.size(dim));
  std::vector<Tensor> out(steps);
  if (x.requires_grad() && ad::GradMode::is_enabled()) {
    split_halves(x, dim, 0, out);
  } else {
    for (std::size_t t = 0; t < steps; ++t) out[t] = x.select(dim, static_cast<std::int64_t>(t));
  }
  return out;
}

}  // namespace

// ---- cells

RNNCellBase::RNNCellBase(Mode mode, std::int64_t input_size, std::int64_t hidden_size, bool bias, ad::Dtype dtype,
                         ad::Generator* gen)
    : mode_(mode), input_size_(input_size), hidden_size_(hidden_size), bias_(bias) {
  check_sizes(layer_name(mode, true), input_size, hidden_size, dtype);
  CellParams p = draw_params(gates_of(mode) * hidden_size, input_size, hidden_size, bias, dtype, gen);
  register_parameter("weight_ih", std::move(p.w_ih));
  register_parameter("weight_hh", std::move(p.w_hh));
  if (bias) {
    register_parameter("bias_ih", std::move(p.b_ih));
    register_parameter("bias_hh", std::move(p.b_hh));
  }
}

RNNState RNNCellBase::forward_with_state(const Tensor& x_in, const RNNState& state) const {
  const char* layer = layer_name(mode_, true);
  const Tensor& w_ih = param("weight_ih");
  const Tensor& w_hh = param("weight_hh");
  const ad::Dtype dt = w_ih.dtype();
  check_dtype(layer, x_in, dt, "input");
  if ((x_in.dim() != 1 && x_in.dim() != 2) || x_in.size(-1) != input_size_)
    throw ad::Error(std::string(layer) + ": input of shape " + ad::shape_str(x_in.shape()) + " must be [batch, " +
                    str(input_size_) + "] or an unbatched [" + str(input_size_) +
                    "] (input_size = " + str(input_size_) + ")");
  const bool unbatched = x_in.dim() == 1;
  const std::int64_t N = unbatched ? 1 : x_in.size(0), H = hidden_size_;
  const Shape want = unbatched ? Shape{H} : Shape{N, H};
  const std::string meaning = unbatched ? "hidden_size = " + str(H) + ", for an unbatched input"
                                        : "batch = " + str(N) + ", hidden_size = " + str(H);
  check_state(layer, state.h, want, dt, "h", meaning);
  if (mode_ == Mode::LSTM)
    check_state(layer, state.c, want, dt, "c", meaning);
  else if (state.c.defined())
    throw ad::Error(std::string(layer) + ": has no cell state c (only an LSTM has); pass the state as {.h = h}");
  const auto batched = [&](const Tensor& s) {
    if (!s.defined()) return ad::zeros({N, H}, ad::dtype(dt));
    return unbatched ? s.unsqueeze(0) : s;
  };
  const Tensor x = unbatched ? x_in.unsqueeze(0) : x_in;
  const Tensor h = batched(state.h);
  const Tensor b_ih = bias_ ? param("bias_ih") : Tensor(), b_hh = bias_ ? param("bias_hh") : Tensor();
  Tensor gi = ad::matmul_t(x, w_ih, false, true), gh = ad::matmul_t(h, w_hh, false, true);
  RNNState out;
  if (mode_ == Mode::GRU) {
    out.h = ad::gru_cell(gi, gh, h, b_ih, b_hh);
  } else {
    Tensor pre = gi + gh;
    if (bias_) pre = pre + (b_ih + b_hh);
    if (mode_ == Mode::LSTM) {
      auto hc = lstm_step(pre, batched(state.c));
      out.h = std::move(hc.first);
      out.c = std::move(hc.second);
    } else {
      out.h = rnn_step(pre, mode_);
    }
  }
  if (unbatched) {
    out.h = out.h.squeeze(0);
    if (out.c.defined()) out.c = out.c.squeeze(0);
  }
  return out;
}

std::string RNNCellBase::extra_repr() const {
  std::string s = str(input_size_) + ", " + str(hidden_size_);
  if (!bias_) s += ", bias=false";
  if (mode_ == Mode::RNNReLU) s += ", nonlinearity=relu";
  return s;
}

// ---- layers

RNNBase::RNNBase(Mode mode, std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers, bool bias,
                 bool batch_first, double dropout, bool bidirectional, ad::Generator* dropout_generator,
                 ad::Dtype dtype, ad::Generator* gen)
    : mode_(mode),
      input_size_(input_size),
      hidden_size_(hidden_size),
      num_layers_(num_layers),
      bias_(bias),
      batch_first_(batch_first),
      dropout_(dropout),
      bidirectional_(bidirectional),
      dropout_gen_(dropout_generator) {
  const char* layer = layer_name(mode, false);
  check_sizes(layer, input_size, hidden_size, dtype);
  if (num_layers < 1) throw ad::Error(std::string(layer) + ": num_layers must be at least 1, got " + str(num_layers));
  if (!(dropout >= 0.0 && dropout < 1.0)) {
    std::ostringstream os;
    os << layer << ": dropout must be in [0, 1), got " << dropout
       << " (the probability of zeroing an element between layers)";
    throw ad::Error(os.str());
  }
  const std::int64_t D = bidirectional ? 2 : 1;
  for (std::int64_t l = 0; l < num_layers; ++l)
    for (std::int64_t d = 0; d < D; ++d) {
      const std::string suffix = "_l" + str(l) + (d == 1 ? "_reverse" : "");
      CellParams p = draw_params(gates_of(mode) * hidden_size, l == 0 ? input_size : D * hidden_size, hidden_size, bias,
                                 dtype, gen);
      register_parameter("weight_ih" + suffix, std::move(p.w_ih));
      register_parameter("weight_hh" + suffix, std::move(p.w_hh));
      if (bias) {
        register_parameter("bias_ih" + suffix, std::move(p.b_ih));
        register_parameter("bias_hh" + suffix, std::move(p.b_hh));
      }
    }
}

RNNResult RNNBase::forward_with_state(const Tensor& x_in, const RNNState& state, const Tensor& lengths) const {
  const char* layer = layer_name(mode_, false);
  const ad::Dtype dt = param("weight_ih_l0").dtype();
  const std::int64_t D = bidirectional_ ? 2 : 1, H = hidden_size_, layers = num_layers_;
  check_dtype(layer, x_in, dt, "input");
  const std::string in = str(input_size_);
  if (x_in.dim() != 2 && x_in.dim() != 3)
    throw ad::Error(std::string(layer) + ": input of shape " + ad::shape_str(x_in.shape()) + " must be " +
                    (batch_first_ ? "[batch, seq, " + in + "] (batch_first)" : "[seq, batch, " + in + "]") +
                    " or an unbatched [seq, " + in + "]; reshape it to one of those");
  if (x_in.size(-1) != input_size_)
    throw ad::Error(std::string(layer) + ": input of shape " + ad::shape_str(x_in.shape()) + " has " +
                    str(x_in.size(-1)) + " features but the layer's input_size is " + in +
                    "; its last dim must be the input_size");
  const bool unbatched = x_in.dim() == 2;
  const Tensor x = unbatched ? x_in.unsqueeze(1) : x_in;       // an unbatched sequence is [seq, 1, in]
  const std::int64_t td = batch_first_ && !unbatched ? 1 : 0;  // the time dim of x
  const std::int64_t L = x.size(td), N = x.size(1 - td);
  if (L == 0)
    throw ad::Error(std::string(layer) + ": input of shape " + ad::shape_str(x_in.shape()) +
                    " has no time steps; a sequence needs at least one");

  // h_0 and c_0: [D*layers, N, H] (unbatched [D*layers, H])
  const Shape want = unbatched ? Shape{D * layers, H} : Shape{D * layers, N, H};
  const std::string meaning = "num_layers * num_directions = " + str(D * layers) +
                              (unbatched ? "" : ", batch = " + str(N)) + ", hidden_size = " + str(H) +
                              (unbatched ? ", for an unbatched input" : "");
  check_state(layer, state.h, want, dt, "h_0", meaning);
  if (mode_ == Mode::LSTM)
    check_state(layer, state.c, want, dt, "c_0", meaning);
  else if (state.c.defined())
    throw ad::Error(std::string(layer) + ": has no cell state c_0 (only an LSTM has); pass the state as {.h = h_0}");
  const Tensor h0 = state.h.defined() && unbatched ? state.h.unsqueeze(1) : state.h;
  const Tensor c0 = state.c.defined() && unbatched ? state.c.unsqueeze(1) : state.c;

  // lengths: Int64 [N], each in [0, L]
  std::vector<std::int64_t> len(static_cast<std::size_t>(N), L);
  if (lengths.defined()) {
    if (unbatched)
      throw ad::Error(std::string(layer) + ": lengths is for a padded batch [seq, batch, " + in +
                      "]; an unbatched sequence of shape " + ad::shape_str(x_in.shape()) +
                      " has one length: narrow it instead");
    if (lengths.dtype() != ad::kInt64 || lengths.shape() != Shape{N})
      throw ad::Error(std::string(layer) + ": lengths must be an Int64 tensor of shape [" + str(N) +
                      "] (one length per sequence of the batch), got " + ad::dtype_name(lengths.dtype()) + " " +
                      ad::shape_str(lengths.shape()) +
                      (lengths.dtype() != ad::kInt64 ? "; convert it with .to(ad::kInt64)" : ""));
    const std::vector<double> v = lengths.to_vector();
    for (std::size_t b = 0; b < v.size(); ++b) {
      const auto n = static_cast<std::int64_t>(v[b]);
      if (n < 0 || n > L)
        throw ad::Error(std::string(layer) + ": lengths[" + str(static_cast<std::int64_t>(b)) + "] = " + str(n) +
                        " is out of range for an input of " + str(L) + " time steps (shape " +
                        ad::shape_str(x_in.shape()) + "); each length must be in [0, " + str(L) + "]");
      len[b] = n;
    }
  }
  const std::int64_t min_len = *std::min_element(len.begin(), len.end());
  const std::int64_t max_len = *std::max_element(len.begin(), len.end());
  // Steps min_len <= t < max_len are masked: mask[t] is [N, 1], true where t < lengths[b].
  std::vector<Tensor> mask(static_cast<std::size_t>(L));
  for (std::int64_t t = min_len; t < max_len; ++t) {
    std::vector<double> m(static_cast<std::size_t>(N));
    for (std::size_t b = 0; b < m.size(); ++b) m[b] = t < len[b] ? 1.0 : 0.0;
    mask[static_cast<std::size_t>(t)] = ad::tensor(m, {N, 1}, ad::dtype(ad::kBool));
  }
  const Tensor zero_state = ad::zeros({N, H}, ad::dtype(dt));
  const Tensor zero = ad::scalar_tensor(0.0, ad::dtype(dt));
  const Tensor ones = ad::ones({N, 1}, ad::dtype(dt));

  // The inputs of the current layer at each step, as pieces to concatenate (the layer below's
  // directions). Padded steps of the input are zeroed, so whatever they hold is never read.
  std::vector<std::vector<Tensor>> inputs(static_cast<std::size_t>(L));
  {
    std::vector<Tensor> xs = time_steps(x, td);
    for (std::int64_t t = 0; t < L; ++t) {
      const auto ts = static_cast<std::size_t>(t);
      if (t >= min_len && t < max_len) xs[ts] = ad::where(mask[ts], xs[ts], zero);
      inputs[ts] = {std::move(xs[ts])};
    }
  }

  std::vector<Tensor> h_n, c_n;
  std::vector<Tensor> outs[2];
  for (std::int64_t l = 0; l < layers; ++l) {
    for (std::int64_t d = 0; d < D; ++d) {
      const std::string suffix = "_l" + str(l) + (d == 1 ? "_reverse" : "");
      const Tensor& w_ih = param("weight_ih" + suffix);
      const Tensor& w_hh = param("weight_hh" + suffix);
      const Tensor b_ih = bias_ ? param("bias_ih" + suffix) : Tensor();
      const Tensor b_hh = bias_ ? param("bias_hh" + suffix) : Tensor();
      // RNN and LSTM: one product per step, [x_t, h, 1] @ [W_ih, W_hh, b_ih + b_hh]^T
      Tensor w_cat;
      if (mode_ != Mode::GRU)
        w_cat = bias_ ? ad::cat({w_ih, w_hh, (b_ih + b_hh).unsqueeze(1)}, 1) : ad::cat({w_ih, w_hh}, 1);
      Tensor h = h0.defined() ? h0.select(0, l * D + d) : zero_state;
      Tensor c = mode_ != Mode::LSTM ? Tensor() : c0.defined() ? c0.select(0, l * D + d) : zero_state;
      std::vector<Tensor>& out = outs[d];
      out.assign(static_cast<std::size_t>(L), Tensor());
      for (std::int64_t s = 0; s < L; ++s) {
        const std::int64_t t = d == 1 ? L - 1 - s : s;
        const auto ts = static_cast<std::size_t>(t);
        if (t >= max_len) {  // every sequence has ended: the state is carried, the output zero
          out[ts] = zero_state;
          continue;
        }
        Tensor h_new, c_new;
        if (mode_ == Mode::GRU) {
          const std::vector<Tensor>& p = inputs[ts];
          const Tensor xt = p.size() == 1 ? p[0] : ad::cat(p, 1);
          h_new = ad::gru_cell(ad::matmul_t(xt, w_ih, false, true), ad::matmul_t(h, w_hh, false, true), h, b_ih, b_hh);
        } else {
          std::vector<Tensor> p = inputs[ts];
          p.push_back(h);
          if (bias_) p.push_back(ones);
          const Tensor gates = ad::matmul_t(ad::cat(p, 1), w_cat, false, true);
          if (mode_ == Mode::LSTM) {
            auto hc = lstm_step(gates, c);
            h_new = std::move(hc.first);
            c_new = std::move(hc.second);
          } else {
            h_new = rnn_step(gates, mode_);
          }
        }
        if (t >= min_len) {  // some sequences have ended: they keep their state
          const Tensor& m = mask[ts];
          out[ts] = ad::where(m, h_new, zero);
          h = ad::where(m, h_new, h);
          if (c.defined()) c = ad::where(m, c_new, c);
        } else {
          out[ts] = h_new;
          h = std::move(h_new);
          c = std::move(c_new);
        }
      }
      h_n.push_back(h);
      if (c.defined()) c_n.push_back(c);
    }
    if (l + 1 == layers) break;
    // the next layer reads this one's outputs, through dropout in training mode
    const bool drop = dropout_ > 0.0 && is_training();
    for (std::size_t t = 0; t < static_cast<std::size_t>(L); ++t) {
      std::vector<Tensor>& p = inputs[t];
      p.clear();
      for (std::int64_t d = 0; d < D; ++d) {
        const Tensor& o = outs[d][t];
        p.push_back(drop ? ad::dropout(o, dropout_, true, dropout_gen_) : o);
      }
    }
  }

  RNNResult r;
  Tensor y = ad::stack(outs[0], td);
  if (D == 2) y = ad::cat({y, ad::stack(outs[1], td)}, 2);
  r.output = unbatched ? y.squeeze(1) : y;
  r.h_n = ad::stack(h_n, 0);
  if (unbatched) r.h_n = r.h_n.squeeze(1);
  if (!c_n.empty()) {
    r.c_n = ad::stack(c_n, 0);
    if (unbatched) r.c_n = r.c_n.squeeze(1);
  }
  return r;
}

std::string RNNBase::extra_repr() const {
  std::ostringstream os;
  os << input_size_ << ", " << hidden_size_;
  if (num_layers_ != 1) os << ", num_layers=" << num_layers_;
  if (mode_ == Mode::RNNReLU) os << ", nonlinearity=relu";
  if (!bias_) os << ", bias=false";
  if (batch_first_) os << ", batch_first=true";
  if (dropout_ != 0.0) os << ", dropout=" << dropout_;
  if (bidirectional_) os << ", bidirectional=true";
  return os.str();
}

}  // namespace ad::nn
