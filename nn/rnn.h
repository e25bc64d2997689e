#pragma once
// Recurrent layers (PyTorch's RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU), composed of engine ops.
//
// Parameters have PyTorch's names, shapes and gate order, so a state_dict moves both ways:
//   cells:  weight_ih [G*H, input_size], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H]
//   layers: the same per layer k and direction: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
//           bias_hh_l{k}, and ..._reverse for the backward direction of a bidirectional layer;
//           weight_ih_l{k} (k >= 1) is [G*H, D*H] (it reads the layer below, both directions).
// with G = 1 (RNN), 4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n), H = hidden_size, D = 2 when
// bidirectional else 1. Every parameter starts U(-1/sqrt(H), 1/sqrt(H)), drawn in that order.
//
//   RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)            (or relu)
//   LSTM: i, f, g, o = sigma, sigma, tanh, sigma of the four blocks of W_ih x + b_ih + W_hh h + b_hh
//         c' = f * c + i * g,  h' = o * tanh(c')
//   GRU:  r, z = sigma of the first two blocks of W_ih x + b_ih + W_hh h + b_hh
//         n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h
//
// Shapes (N batch, L sequence length):
//   layer input   [L, N, input_size], batch_first: [N, L, input_size]; unbatched: [L, input_size]
//   output        [L, N, D*H] (batch_first [N, L, D*H]; unbatched [L, D*H]): the last layer's h at
//                 every step, the two directions concatenated (forward first)
//   h_0, h_n      [D*num_layers, N, H] (also when batch_first; unbatched [D*num_layers, H]),
//                 ordered layer 0 forward, layer 0 reverse, layer 1 forward, ...; c_0, c_n alike
//   cell input    [N, input_size] or unbatched [input_size]; cell state [N, H] or [H]
//
// Variable lengths: pass `lengths` (Int64 [N], each in [0, L]) with a padded batch. At the steps
// t >= lengths[b] sequence b's state is carried unchanged and its output is zero, so h_n (c_n) is
// each sequence's state at its own last step, and the reverse direction starts at each
// sequence's own last element: the same outputs as running every sequence alone, unpadded (what
// PyTorch's packed sequences give). The padded inputs are never read (NaN there is harmless).
// A length of 0 gives h_n = h_0 and zero outputs.
//
// Dropout (layers): with p > 0 and in training mode, the output of every layer but the last is
// passed through ad::dropout before the next layer reads it (as PyTorch); eval() turns it off.
//
// forward(x), what operator() and Sequential call (with the forward hooks around it), returns the
// output from the zero state; forward_with_state gives everything (no hooks).
//
// Each step is one matmul of [x_t, h, 1] with [W_ih, W_hh, b_ih + b_hh] (RNN, LSTM; GRU keeps the
// two products apart) and, for LSTM and GRU, the engine's fused cell ops (ad::lstm_cell_state,
// ad::lstm_cell_output, ad::gru_cell): no backward rule lives here.
#include <cstdint>
#include <string>

#include "adgraph/nn/module.h"

namespace ad::nn {

enum class RNNNonlinearity { Tanh, ReLU };

// Options of the multi-layer RNN (designated initializers: RNN(4, 8, {.num_layers = 2})).
struct RNNOptions {
  std::int64_t num_layers = 1;
  RNNNonlinearity nonlinearity = RNNNonlinearity::Tanh;
  bool bias = true;  // false: no bias_ih / bias_hh parameters
  bool batch_first = false;
  double dropout = 0.0;  // between layers, in training mode; in [0, 1)
  bool bidirectional = false;
  ad::Generator* dropout_generator = nullptr;  // the dropout masks' source (not owned); null: the default
};
// Options of LSTM and GRU: RNNOptions without the nonlinearity.
struct LSTMOptions {
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;
  bool bidirectional = false;
  ad::Generator* dropout_generator = nullptr;
};
using GRUOptions = LSTMOptions;

// A recurrent state: h, and c for an LSTM. An undefined tensor stands for zeros.
struct RNNState {
  ad::Tensor h = {};
  ad::Tensor c = {};  // LSTM only
};

// What a layer's forward_with_state returns (shapes above).
struct RNNResult {
  ad::Tensor output = {};
  ad::Tensor h_n = {};
  ad::Tensor c_n = {};  // LSTM only (undefined otherwise)
};

// ---- cells: one time step

// The shared implementation of RNNCell, LSTMCell and GRUCell.
class RNNCellBase : public Module {
 public:
  // One step from `state` (zeros when undefined): the new h (and c for an LSTM cell).
  // x is [N, input_size] with state [N, H], or unbatched [input_size] with [H].
  RNNState forward_with_state(const ad::Tensor& x, const RNNState& state = {}) const;
  // One step from the zero state; returns the new h.
  ad::Tensor forward(const ad::Tensor& x) const override { return forward_with_state(x).h; }
  std::int64_t input_size() const { return input_size_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  std::string extra_repr() const override;

  enum class Mode { RNNTanh, RNNReLU, LSTM, GRU };

 protected:
  RNNCellBase(Mode mode, std::int64_t input_size, std::int64_t hidden_size, bool bias, ad::Dtype dtype,
              ad::Generator* gen);

 private:
  Mode mode_;
  std::int64_t input_size_, hidden_size_;
  bool bias_;
};

class RNNCell : public RNNCellBase {
 public:
  RNNCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true,
          RNNNonlinearity nonlinearity = RNNNonlinearity::Tanh, ad::Dtype dtype = ad::kFloat32,
          ad::Generator* gen = nullptr)
      : RNNCellBase(nonlinearity == RNNNonlinearity::Tanh ? Mode::RNNTanh : Mode::RNNReLU, input_size, hidden_size,
                    bias, dtype, gen) {}
};

class LSTMCell : public RNNCellBase {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true, ad::Dtype dtype = ad::kFloat32,
           ad::Generator* gen = nullptr)
      : RNNCellBase(Mode::LSTM, input_size, hidden_size, bias, dtype, gen) {}
};

class GRUCell : public RNNCellBase {
 public:
  GRUCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true, ad::Dtype dtype = ad::kFloat32,
          ad::Generator* gen = nullptr)
      : RNNCellBase(Mode::GRU, input_size, hidden_size, bias, dtype, gen) {}
};

// ---- layers: whole sequences, several layers, one or two directions

// The shared implementation of RNN, LSTM and GRU.
class RNNBase : public Module {
 public:
  // The whole pass: output, h_n (and c_n for an LSTM). `state` holds h_0 (and c_0), zeros where
  // undefined; `lengths` (optional, Int64 [N]) gives each sequence's length in a padded batch.
  RNNResult forward_with_state(const ad::Tensor& x, const RNNState& state = {}, const ad::Tensor& lengths = {}) const;
  // The output only, from the zero state, every sequence of full length.
  ad::Tensor forward(const ad::Tensor& x) const override { return forward_with_state(x).output; }

  std::int64_t input_size() const { return input_size_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  std::int64_t num_layers() const { return num_layers_; }
  bool bidirectional() const { return bidirectional_; }
  bool batch_first() const { return batch_first_; }
  std::string extra_repr() const override;

  using Mode = RNNCellBase::Mode;

 protected:
  RNNBase(Mode mode, std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers, bool bias,
          bool batch_first, double dropout, bool bidirectional, ad::Generator* dropout_generator, ad::Dtype dtype,
          ad::Generator* gen);

 private:
  Mode mode_;
  std::int64_t input_size_, hidden_size_, num_layers_;
  bool bias_, batch_first_;
  double dropout_;
  bool bidirectional_;
  ad::Generator* dropout_gen_;
};

// Elman RNN (tanh or relu).
class RNN : public RNNBase {
 public:
  RNN(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& opt = {}, ad::Dtype dtype = ad::kFloat32,
      ad::Generator* gen = nullptr)
      : RNNBase(opt.nonlinearity == RNNNonlinearity::Tanh ? Mode::RNNTanh : Mode::RNNReLU, input_size, hidden_size,
                opt.num_layers, opt.bias, opt.batch_first, opt.dropout, opt.bidirectional, opt.dropout_generator, dtype,
                gen) {}
};

class LSTM : public RNNBase {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, const LSTMOptions& opt = {}, ad::Dtype dtype = ad::kFloat32,
       ad::Generator* gen = nullptr)
      : RNNBase(Mode::LSTM, input_size, hidden_size, opt.num_layers, opt.bias, opt.batch_first, opt.dropout,
                opt.bidirectional, opt.dropout_generator, dtype, gen) {}
};

class GRU : public RNNBase {
 public:
  GRU(std::int64_t input_size, std::int64_t hidden_size, const GRUOptions& opt = {}, ad::Dtype dtype = ad::kFloat32,
      ad::Generator* gen = nullptr)
      : RNNBase(Mode::GRU, input_size, hidden_size, opt.num_layers, opt.bias, opt.batch_first, opt.dropout,
                opt.bidirectional, opt.dropout_generator, dtype, gen) {}
};

}  // namespace ad::nn
