// RNNCell, LSTMCell, GRUCell, RNN, LSTM and GRU: PyTorch's parameter names, shapes and
// initialisation; one step of each cell against a hand computation; gradcheck of every layer
// w.r.t. its input, initial state and parameters; the layers against cells composed by hand
// (several layers, both directions); variable lengths by masking against each sequence run
// alone; batch_first; dropout between layers; errors. Also the engine's fused cell ops
// (ad::lstm_cell_state, ad::lstm_cell_output, ad::gru_cell) against their composite formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/nn/nn.h"
#include "adgraph/optim/adam.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::nn::RNNState;
using ad::testing::contains;
using ad::testing::error_of;

Tensor f64(const std::vector<double>& v, const Shape& s) { return ad::tensor(v, s, ad::dtype(ad::kFloat64)); }
Tensor randn64(const Shape& s, ad::Generator& gen) { return ad::randn(s, ad::dtype(ad::kFloat64), &gen); }

// Same shape and every element within tol.
void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const auto x = a.to_vector(), y = b.to_vector();
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], tol) << what << " element " << i;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// row j of W [rows, cols] (row-major values) times v
double dot_row(const std::vector<double>& w, std::size_t cols, std::size_t j, const std::vector<double>& v) {
  double s = 0;
  for (std::size_t k = 0; k < cols; ++k) s += w[j * cols + k] * v[k];
  return s;
}

// A layer as a module of one tensor, for gradcheck through functional_call: forward(x) runs
// forward_with_state(x, state, lengths) and returns output, h_n (and c_n) flattened into one vector.
struct WholeLayer : ad::nn::Module {
  explicit WholeLayer(std::shared_ptr<ad::nn::RNNBase> l) : layer(register_module("rnn", std::move(l))) {}
  Tensor forward(const Tensor& x) const override {
    const ad::nn::RNNResult r = layer->forward_with_state(x, state, lengths);
    std::vector<Tensor> parts{r.output.flatten(), r.h_n.flatten()};
    if (r.c_n.defined()) parts.push_back(r.c_n.flatten());
    return ad::cat(parts, 0);
  }
  std::shared_ptr<ad::nn::RNNBase> layer;
  RNNState state;
  Tensor lengths;
};

struct WholeCell : ad::nn::Module {
  explicit WholeCell(std::shared_ptr<ad::nn::RNNCellBase> c) : cell(register_module("cell", std::move(c))) {}
  Tensor forward(const Tensor& x) const override {
    const RNNState s = cell->forward_with_state(x, state);
    return s.c.defined() ? ad::cat({s.h.flatten(), s.c.flatten()}, 0) : s.h.flatten();
  }
  std::shared_ptr<ad::nn::RNNCellBase> cell;
  RNNState state;
};

// gradcheck of f(x, h0[, c0], parameters...) through the module's functional_call.
template <class Whole>
ad::GradcheckResult gradcheck_all(Whole& whole, const Tensor& x, const Tensor& h0, const Tensor& c0) {
  const auto named = whole.named_parameters();
  std::vector<Tensor> inputs{x.detach().requires_grad_(), h0.detach().requires_grad_()};
  if (c0.defined()) inputs.push_back(c0.detach().requires_grad_());
  const std::size_t first = inputs.size();
  for (const auto& p : named) inputs.push_back(p.second);
  return ad::gradcheck(
      [&](const std::vector<Tensor>& v) {
        whole.state = {v[1], c0.defined() ? v[2] : Tensor()};
        std::vector<std::pair<std::string, Tensor>> params;
        for (std::size_t i = 0; i < named.size(); ++i) params.emplace_back(named[i].first, v[first + i]);
        return whole.functional_call(params, v[0]);
      },
      inputs);
}

std::shared_ptr<ad::nn::RNNBase> make_layer(const std::string& kind, std::int64_t in, std::int64_t hidden,
                                            const ad::nn::LSTMOptions& o, ad::Generator* gen) {
  if (kind == "LSTM") return std::make_shared<ad::nn::LSTM>(in, hidden, o, ad::kFloat64, gen);
  if (kind == "GRU") return std::make_shared<ad::nn::GRU>(in, hidden, o, ad::kFloat64, gen);
  const ad::nn::RNNOptions ro{
      .num_layers = o.num_layers,
      .nonlinearity = kind == "RNN_RELU" ? ad::nn::RNNNonlinearity::ReLU : ad::nn::RNNNonlinearity::Tanh,
      .bias = o.bias,
      .batch_first = o.batch_first,
      .dropout = o.dropout,
      .bidirectional = o.bidirectional,
      .dropout_generator = o.dropout_generator};
  return std::make_shared<ad::nn::RNN>(in, hidden, ro, ad::kFloat64, gen);
}

std::shared_ptr<ad::nn::RNNCellBase> make_cell(const std::string& kind, std::int64_t in, std::int64_t hidden,
                                               bool bias = true, ad::Generator* gen = nullptr) {
  if (kind == "LSTM") return std::make_shared<ad::nn::LSTMCell>(in, hidden, bias, ad::kFloat64, gen);
  if (kind == "GRU") return std::make_shared<ad::nn::GRUCell>(in, hidden, bias, ad::kFloat64, gen);
  return std::make_shared<ad::nn::RNNCell>(
      in, hidden, bias, kind == "RNN_RELU" ? ad::nn::RNNNonlinearity::ReLU : ad::nn::RNNNonlinearity::Tanh,
      ad::kFloat64, gen);
}

const std::vector<std::string> kKinds = {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"};

TEST(RNNLayers, ParameterNamesShapesAndInitialisationAsPyTorch) {
  ad::Generator gen(1);
  ad::nn::LSTM lstm(3, 4, {.num_layers = 2, .bidirectional = true}, ad::kFloat32, &gen);
  const std::vector<std::pair<std::string, Shape>> want = {{"weight_ih_l0", {16, 3}},
                                                           {"weight_hh_l0", {16, 4}},
                                                           {"bias_ih_l0", {16}},
                                                           {"bias_hh_l0", {16}},
                                                           {"weight_ih_l0_reverse", {16, 3}},
                                                           {"weight_hh_l0_reverse", {16, 4}},
                                                           {"bias_ih_l0_reverse", {16}},
                                                           {"bias_hh_l0_reverse", {16}},
                                                           {"weight_ih_l1", {16, 8}},
                                                           {"weight_hh_l1", {16, 4}},
                                                           {"bias_ih_l1", {16}},
                                                           {"bias_hh_l1", {16}},
                                                           {"weight_ih_l1_reverse", {16, 8}},
                                                           {"weight_hh_l1_reverse", {16, 4}},
                                                           {"bias_ih_l1_reverse", {16}},
                                                           {"bias_hh_l1_reverse", {16}}};
  const auto named = lstm.named_parameters();
  ASSERT_EQ(named.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(named[i].first, want[i].first);
    EXPECT_EQ(named[i].second.shape(), want[i].second) << want[i].first;
    EXPECT_EQ(named[i].second.dtype(), ad::kFloat32);
  }
  // U(-1/sqrt(H), 1/sqrt(H)): within the bound, and spread over it
  double lo = 1, hi = -1;
  for (const Tensor& p : lstm.parameters())
    for (double v : p.to_vector()) {
      EXPECT_LE(std::abs(v), 0.5);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  EXPECT_LT(lo, -0.45);
  EXPECT_GT(hi, 0.45);
  // gates: GRU 3 H, RNN H; no bias parameters without bias
  ad::nn::GRU gru(5, 2, {.bias = false});
  ASSERT_EQ(gru.named_parameters().size(), 2u);
  EXPECT_EQ(gru.param("weight_ih_l0").shape(), (Shape{6, 5}));
  EXPECT_EQ(gru.param("weight_hh_l0").shape(), (Shape{6, 2}));
  ad::nn::RNN rnn(5, 2, {.num_layers = 3});
  EXPECT_EQ(rnn.named_parameters().size(), 12u);
  EXPECT_EQ(rnn.param("weight_ih_l2").shape(), (Shape{2, 2}));
  // cells
  ad::nn::LSTMCell cell(3, 4);
  const auto cn = cell.named_parameters();
  ASSERT_EQ(cn.size(), 4u);
  EXPECT_EQ(cn[0].first, "weight_ih");
  EXPECT_EQ(cn[0].second.shape(), (Shape{16, 3}));
  EXPECT_EQ(cn[3].first, "bias_hh");
  EXPECT_EQ(ad::nn::GRUCell(3, 4).param("weight_hh").shape(), (Shape{12, 4}));
  EXPECT_EQ(ad::nn::RNNCell(3, 4, false).named_parameters().size(), 2u);
  // the same seed gives the same parameters
  ad::Generator g1(9), g2(9);
  EXPECT_EQ(ad::nn::GRU(2, 3, {}, ad::kFloat64, &g1).param("bias_hh_l0").to_vector(),
            ad::nn::GRU(2, 3, {}, ad::kFloat64, &g2).param("bias_hh_l0").to_vector());
  // printing as PyTorch
  EXPECT_EQ(lstm.extra_repr(), "3, 4, num_layers=2, bidirectional=true");
  EXPECT_EQ(ad::nn::RNN(2, 3, {.nonlinearity = ad::nn::RNNNonlinearity::ReLU, .batch_first = true}).extra_repr(),
            "2, 3, nonlinearity=relu, batch_first=true");
  EXPECT_EQ(ad::nn::RNNCell(2, 3, false, ad::nn::RNNNonlinearity::ReLU).extra_repr(),
            "2, 3, bias=false, nonlinearity=relu");
  EXPECT_EQ(lstm.name(), "LSTM");
}

// One step of each cell with small weights set by hand, against the formulas in doubles.
TEST(RNNCells, OneStepByHand) {
  const std::size_t in = 2, H = 2;
  const std::vector<double> x = {0.7, -1.1, 0.2, 0.4};  // [2, 2]: two rows
  const std::vector<double> h = {0.5, -0.3, -0.2, 0.9};
  const std::vector<double> c = {0.1, 0.6, -0.8, 0.3};
  // weights: 0.1 * (k mod 7) - 0.3 over the flat index k, a different pattern per tensor
  auto pattern = [](std::size_t n, double scale, double shift) {
    std::vector<double> v(n);
    for (std::size_t k = 0; k < n; ++k) v[k] = scale * static_cast<double>(k % 7) + shift;
    return v;
  };
  for (const std::string kind : {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"}) {
    const std::size_t G = kind == "LSTM" ? 4 : kind == "GRU" ? 3 : 1;
    const auto w_ih = pattern(G * H * in, 0.1, -0.3), w_hh = pattern(G * H * H, -0.07, 0.2);
    const auto b_ih = pattern(G * H, 0.05, -0.1), b_hh = pattern(G * H, 0.03, 0.02);
    auto cell = make_cell(kind, in, H);
    const auto gh = static_cast<std::int64_t>(G * H);
    cell->set_param("weight_ih", f64(w_ih, {gh, 2}));
    cell->set_param("weight_hh", f64(w_hh, {gh, 2}));
    cell->set_param("bias_ih", f64(b_ih, {gh}));
    cell->set_param("bias_hh", f64(b_hh, {gh}));
    const RNNState got =
        cell->forward_with_state(f64(x, {2, 2}), {f64(h, {2, 2}), kind == "LSTM" ? f64(c, {2, 2}) : Tensor()});
    for (std::size_t n = 0; n < 2; ++n) {
      const std::vector<double> xn(x.begin() + 2 * n, x.begin() + 2 * n + 2),
          hn(h.begin() + 2 * n, h.begin() + 2 * n + 2);
      // the input and hidden parts of gate row j
      auto gi = [&](std::size_t j) { return dot_row(w_ih, in, j, xn) + b_ih[j]; };
      auto gh_ = [&](std::size_t j) { return dot_row(w_hh, H, j, hn) + b_hh[j]; };
      for (std::size_t j = 0; j < H; ++j) {
        double want_h = 0, want_c = 0;
        if (kind == "RNN_TANH") want_h = std::tanh(gi(j) + gh_(j));
        if (kind == "RNN_RELU") want_h = std::max(0.0, gi(j) + gh_(j));
        if (kind == "LSTM") {
          const double i = sigmoid(gi(j) + gh_(j)), f = sigmoid(gi(H + j) + gh_(H + j));
          const double g = std::tanh(gi(2 * H + j) + gh_(2 * H + j)), o = sigmoid(gi(3 * H + j) + gh_(3 * H + j));
          want_c = f * c[2 * n + j] + i * g;
          want_h = o * std::tanh(want_c);
        }
        if (kind == "GRU") {
          const double r = sigmoid(gi(j) + gh_(j)), z = sigmoid(gi(H + j) + gh_(H + j));
          const double nn = std::tanh(gi(2 * H + j) + r * gh_(2 * H + j));
          want_h = (1 - z) * nn + z * hn[j];
        }
        const std::size_t e = n * H + j;
        EXPECT_NEAR(got.h.to_vector()[e], want_h, 1e-14) << kind << " h[" << n << ", " << j << "]";
        if (kind == "LSTM") {
          EXPECT_NEAR(got.c.to_vector()[e], want_c, 1e-14) << kind << " c[" << n << ", " << j << "]";
        }
      }
    }
    EXPECT_EQ(got.c.defined(), kind == "LSTM") << kind;
    // unbatched: a row of the batch; forward(x): from the zero state
    const RNNState one = cell->forward_with_state(
        f64({x[2], x[3]}, {2}), {f64({h[2], h[3]}, {2}), kind == "LSTM" ? f64({c[2], c[3]}, {2}) : Tensor()});
    ASSERT_EQ(one.h.shape(), (Shape{2})) << kind;
    expect_close(one.h, got.h.select(0, 1), 1e-15, kind + " unbatched");
    expect_close(cell->forward(f64(x, {2, 2})),
                 cell->forward_with_state(f64(x, {2, 2}),
                                          {ad::zeros({2, 2}, ad::dtype(ad::kFloat64)),
                                           kind == "LSTM" ? ad::zeros({2, 2}, ad::dtype(ad::kFloat64)) : Tensor()})
                     .h,
                 0.0, kind + " zero state");
  }
}

TEST(RNNCells, GradcheckWrtInputStateAndParameters) {
  for (const std::string& kind : kKinds) {
    ad::Generator gen(3);
    WholeCell whole(make_cell(kind, 3, 2, true, &gen));
    const Tensor x = randn64({2, 3}, gen), h0 = randn64({2, 2}, gen);
    const Tensor c0 = kind == "LSTM" ? randn64({2, 2}, gen) : Tensor();
    const auto r = gradcheck_all(whole, x, h0, c0);
    EXPECT_TRUE(r.ok) << kind << ": " << r.report;
  }
}

TEST(RNNLayers, GradcheckWrtInputStateAndParameters) {
  // two layers, both directions, so every parameter and both directions' paths are checked
  for (const std::string& kind : kKinds)
    for (bool batch_first : {false, true}) {
      ad::Generator gen(4);
      WholeLayer whole(
          make_layer(kind, 3, 2, {.num_layers = 2, .batch_first = batch_first, .bidirectional = true}, &gen));
      const Tensor x = batch_first ? randn64({2, 3, 3}, gen) : randn64({3, 2, 3}, gen);
      const Tensor h0 = randn64({4, 2, 2}, gen);
      const Tensor c0 = kind == "LSTM" ? randn64({4, 2, 2}, gen) : Tensor();
      EXPECT_EQ(whole.named_parameters().size(), 16u);
      const auto r = gradcheck_all(whole, x, h0, c0);
      EXPECT_TRUE(r.ok) << kind << " batch_first " << batch_first << ": " << r.report;
    }
}

TEST(RNNLayers, GradcheckWithLengthsAndWithoutBias) {
  for (const std::string& kind : kKinds) {
    ad::Generator gen(5);
    WholeLayer whole(make_layer(kind, 2, 2, {.num_layers = 2, .bias = false, .bidirectional = true}, &gen));
    whole.lengths = ad::index_tensor({4, 1, 3});
    const Tensor x = randn64({4, 3, 2}, gen), h0 = randn64({4, 3, 2}, gen);
    const Tensor c0 = kind == "LSTM" ? randn64({4, 3, 2}, gen) : Tensor();
    const auto r = gradcheck_all(whole, x, h0, c0);
    EXPECT_TRUE(r.ok) << kind << ": " << r.report;
  }
}

// Second derivatives through a whole layer (the fused cell ops' backward is itself differentiable).
TEST(RNNLayers, GradgradcheckThroughALayer) {
  for (const std::string kind : {"LSTM", "GRU"}) {
    ad::Generator gen(6);
    auto layer = make_layer(kind, 2, 2, {.bidirectional = true}, &gen);
    const Tensor x = randn64({3, 2, 2}, gen).requires_grad_();
    const Tensor h0 = randn64({2, 2, 2}, gen).requires_grad_();
    const auto r = ad::gradgradcheck(
        [&](const std::vector<Tensor>& v) {
          const auto out = layer->forward_with_state(v[0], {v[1], Tensor()}, ad::index_tensor({3, 2}));
          return ad::cat({out.output.flatten(), out.h_n.flatten()}, 0);
        },
        {x, h0});
    EXPECT_TRUE(r.ok) << kind << ": " << r.report;
  }
}

// The layers against cells with the same weights, composed by hand: each layer runs its forward
// direction over t = 0..L-1 and its reverse direction over t = L-1..0, and the next layer reads
// both directions' h concatenated.
TEST(RNNLayers, EqualCellsComposedByHand) {
  const std::int64_t L = 4, N = 3, in = 3, H = 2, layers = 2;
  for (const std::string& kind : kKinds) {
    ad::Generator gen(7);
    auto layer = make_layer(kind, in, H, {.num_layers = layers, .bidirectional = true}, &gen);
    const bool lstm = kind == "LSTM";
    const Tensor x = randn64({L, N, in}, gen), h0 = randn64({4, N, H}, gen), c0 = randn64({4, N, H}, gen);
    const ad::nn::RNNResult r = layer->forward_with_state(x, {h0, lstm ? c0 : Tensor()});
    std::vector<Tensor> inputs;
    for (std::int64_t t = 0; t < L; ++t) inputs.push_back(x.select(0, t));
    std::vector<Tensor> h_n, c_n;
    for (std::int64_t l = 0; l < layers; ++l) {
      std::vector<Tensor> outs[2];
      for (int d = 0; d < 2; ++d) {
        const std::string sfx = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
        auto cell = make_cell(kind, l == 0 ? in : 2 * H, H);
        for (const char* p : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"})
          cell->set_param(p, layer->param(std::string(p) + sfx));
        RNNState s{h0.select(0, 2 * l + d), lstm ? c0.select(0, 2 * l + d) : Tensor()};
        outs[d].resize(static_cast<std::size_t>(L));
        for (std::int64_t k = 0; k < L; ++k) {
          const std::int64_t t = d == 1 ? L - 1 - k : k;
          s = cell->forward_with_state(inputs[static_cast<std::size_t>(t)], s);
          outs[d][static_cast<std::size_t>(t)] = s.h;
        }
        h_n.push_back(s.h);
        if (lstm) c_n.push_back(s.c);
      }
      for (std::size_t t = 0; t < inputs.size(); ++t) inputs[t] = ad::cat({outs[0][t], outs[1][t]}, 1);
    }
    expect_close(r.output, ad::stack(inputs, 0), 1e-13, kind + " output");
    expect_close(r.h_n, ad::stack(h_n, 0), 1e-13, kind + " h_n");
    if (lstm) expect_close(r.c_n, ad::stack(c_n, 0), 1e-13, kind + " c_n");
    EXPECT_EQ(r.c_n.defined(), lstm);
    EXPECT_EQ(r.output.shape(), (Shape{L, N, 2 * H}));
    EXPECT_EQ(r.h_n.shape(), (Shape{4, N, H}));
    // forward(x): the output from the zero state
    expect_close(layer->forward(x),
                 layer
                     ->forward_with_state(x, {ad::zeros({4, N, H}, ad::dtype(ad::kFloat64)),
                                              lstm ? ad::zeros({4, N, H}, ad::dtype(ad::kFloat64)) : Tensor()})
                     .output,
                 0.0, kind + " zero state");
  }
}

// A padded batch with lengths gives each sequence what it gives alone, unpadded: the same
// outputs up to its length and zeros after, its own h_n and c_n (the reverse direction starts at
// its last element), and the same gradients. The padding holds NaN: it is never read.
TEST(RNNLayers, LengthsMaskAPaddedBatchLikeEachSequenceAlone) {
  const std::int64_t L = 5, N = 4, in = 3, H = 2;
  const std::vector<std::int64_t> len = {5, 2, 4, 1};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const std::string& kind : kKinds)
    for (bool bidirectional : {false, true}) {
      const std::string what = kind + (bidirectional ? " bidirectional" : "");
      ad::Generator gen(8);
      auto layer = make_layer(kind, in, H, {.num_layers = 2, .bidirectional = bidirectional}, &gen);
      const std::int64_t D = bidirectional ? 2 : 1;
      const bool lstm = kind == "LSTM";
      std::vector<double> xv = randn64({L, N, in}, gen).to_vector();
      for (std::int64_t t = 0; t < L; ++t)
        for (std::int64_t b = 0; b < N; ++b)
          if (t >= len[static_cast<std::size_t>(b)])
            for (std::int64_t k = 0; k < in; ++k) xv[static_cast<std::size_t>((t * N + b) * in + k)] = nan;
      const Tensor x = f64(xv, {L, N, in}).requires_grad_();
      const Tensor h0 = randn64({2 * D, N, H}, gen), c0 = lstm ? randn64({2 * D, N, H}, gen) : Tensor();
      const ad::nn::RNNResult r = layer->forward_with_state(x, {h0, c0}, ad::index_tensor(len));
      // the loss weights every output, so each gradient is checked
      const Tensor wo = randn64({L, N, D * H}, gen), wh = randn64({2 * D, N, H}, gen);
      const auto params = layer->parameters();
      std::vector<Tensor> wrt = params;
      wrt.push_back(x);
      const Tensor loss = (r.output * wo).sum() + (r.h_n * wh).sum() +
                          (lstm ? (r.c_n * r.c_n).sum() : Tensor(ad::zeros({}, ad::dtype(ad::kFloat64))));
      const auto grads = ad::grad({loss}, wrt);
      std::vector<Tensor> sum_grads(params.size());
      for (std::int64_t b = 0; b < N; ++b) {
        const std::int64_t n = len[static_cast<std::size_t>(b)];
        const Tensor xb = x.detach().narrow(1, b, 1).narrow(0, 0, n).contiguous().requires_grad_();
        const ad::nn::RNNResult rb =
            layer->forward_with_state(xb, {h0.narrow(1, b, 1), lstm ? c0.narrow(1, b, 1) : Tensor()});
        const Tensor ob = r.output.detach().narrow(1, b, 1);
        expect_close(ob.narrow(0, 0, n), rb.output, 1e-13, what + " output of sequence " + std::to_string(b));
        for (double v : ob.narrow(0, n, L - n).to_vector()) EXPECT_EQ(v, 0.0) << what << " past the length of " << b;
        expect_close(r.h_n.detach().narrow(1, b, 1), rb.h_n, 1e-13, what + " h_n of " + std::to_string(b));
        if (lstm) expect_close(r.c_n.detach().narrow(1, b, 1), rb.c_n, 1e-13, what + " c_n of " + std::to_string(b));
        Tensor lb = (rb.output * wo.narrow(1, b, 1).narrow(0, 0, n)).sum() + (rb.h_n * wh.narrow(1, b, 1)).sum();
        if (lstm) lb = lb + (rb.c_n * rb.c_n).sum();
        std::vector<Tensor> wrt_b = params;
        wrt_b.push_back(xb);
        const auto gb = ad::grad({lb}, wrt_b);
        for (std::size_t i = 0; i < params.size(); ++i) sum_grads[i] = b == 0 ? gb[i] : sum_grads[i] + gb[i];
        const Tensor gx = grads.back().narrow(1, b, 1);
        expect_close(gx.narrow(0, 0, n), gb.back(), 1e-13, what + " d input of " + std::to_string(b));
        for (double v : gx.narrow(0, n, L - n).to_vector()) EXPECT_EQ(v, 0.0) << what << " d padding of " << b;
      }
      for (std::size_t i = 0; i < params.size(); ++i)
        expect_close(grads[i], sum_grads[i], 1e-12, what + " d " + layer->named_parameters()[i].first);
    }
}

TEST(RNNLayers, ZeroLengthKeepsTheInitialStateAndAllFullLengthsChangeNothing) {
  ad::Generator gen(9);
  ad::nn::LSTM lstm(2, 3, {.num_layers = 2, .bidirectional = true}, ad::kFloat64, &gen);
  const Tensor x = randn64({3, 2, 2}, gen), h0 = randn64({4, 2, 3}, gen), c0 = randn64({4, 2, 3}, gen);
  const ad::nn::RNNResult r = lstm.forward_with_state(x, {h0, c0}, ad::index_tensor({0, 3}));
  EXPECT_EQ(r.h_n.narrow(1, 0, 1).to_vector(), h0.narrow(1, 0, 1).to_vector());
  EXPECT_EQ(r.c_n.narrow(1, 0, 1).to_vector(), c0.narrow(1, 0, 1).to_vector());
  for (double v : r.output.narrow(1, 0, 1).to_vector()) EXPECT_EQ(v, 0.0);
  const ad::nn::RNNResult full = lstm.forward_with_state(x, {h0, c0}, ad::index_tensor({3, 3}));
  const ad::nn::RNNResult none = lstm.forward_with_state(x, {h0, c0});
  EXPECT_EQ(full.output.to_vector(), none.output.to_vector());
  EXPECT_EQ(full.h_n.to_vector(), none.h_n.to_vector());
  EXPECT_EQ(full.c_n.to_vector(), none.c_n.to_vector());
  EXPECT_NE(r.h_n.narrow(1, 1, 1).to_vector(), h0.narrow(1, 1, 1).to_vector());
}

TEST(RNNLayers, BatchFirstEqualsTheTransposedLayout) {
  for (const std::string& kind : kKinds) {
    ad::Generator g1(10), g2(10);
    auto seq = make_layer(kind, 3, 2, {.num_layers = 2, .bidirectional = true}, &g1);
    auto bf = make_layer(kind, 3, 2, {.num_layers = 2, .batch_first = true, .bidirectional = true}, &g2);
    ad::Generator gen(11);
    const Tensor x = randn64({4, 3, 3}, gen), h0 = randn64({4, 3, 2}, gen);
    const Tensor c0 = kind == "LSTM" ? randn64({4, 3, 2}, gen) : Tensor();
    const Tensor lengths = ad::index_tensor({4, 2, 3});
    const auto a = seq->forward_with_state(x, {h0, c0}, lengths);
    const auto b = bf->forward_with_state(x.transpose(0, 1).contiguous(), {h0, c0}, lengths);
    ASSERT_EQ(b.output.shape(), (Shape{3, 4, 4})) << kind;
    expect_close(b.output.transpose(0, 1), a.output, 1e-15, kind + " output");
    expect_close(b.h_n, a.h_n, 1e-15, kind + " h_n (never batch first)");
    if (c0.defined()) expect_close(b.c_n, a.c_n, 1e-15, kind + " c_n");
    // a transposed view in is the same as its contiguous copy
    expect_close(bf->forward(x.transpose(0, 1)), bf->forward(x.transpose(0, 1).contiguous()), 0.0, kind + " view");
  }
}

TEST(RNNLayers, UnbatchedSequenceIsABatchOfOne) {
  for (const std::string& kind : kKinds) {
    ad::Generator gen(12);
    auto layer = make_layer(kind, 3, 2, {.num_layers = 2, .bidirectional = true}, &gen);
    const Tensor x = randn64({5, 3}, gen), h0 = randn64({4, 2}, gen);
    const Tensor c0 = kind == "LSTM" ? randn64({4, 2}, gen) : Tensor();
    const auto one = layer->forward_with_state(x, {h0, c0});
    const auto batch =
        layer->forward_with_state(x.unsqueeze(1), {h0.unsqueeze(1), c0.defined() ? c0.unsqueeze(1) : c0});
    ASSERT_EQ(one.output.shape(), (Shape{5, 4})) << kind;
    ASSERT_EQ(one.h_n.shape(), (Shape{4, 2})) << kind;
    expect_close(one.output, batch.output.squeeze(1), 0.0, kind);
    expect_close(one.h_n, batch.h_n.squeeze(1), 0.0, kind);
    if (c0.defined()) expect_close(one.c_n, batch.c_n.squeeze(1), 0.0, kind);
  }
}

// Dropout acts between layers in training mode only, with masks from the given generator.
TEST(RNNLayers, DropoutBetweenLayersInTrainingOnly) {
  ad::Generator masks(13);
  ad::Generator g1(14), g2(14);
  ad::nn::GRU drop(3, 4, {.num_layers = 2, .dropout = 0.5, .dropout_generator = &masks}, ad::kFloat64, &g1);
  ad::nn::GRU plain(3, 4, {.num_layers = 2}, ad::kFloat64, &g2);
  ad::Generator gen(15);
  const Tensor x = randn64({6, 5, 3}, gen);
  const std::vector<double> p = plain(x).to_vector();
  const std::vector<double> t1 = drop(x).to_vector();
  EXPECT_NE(t1, p);
  masks.seed(13);
  EXPECT_EQ(drop(x).to_vector(), t1);  // the same masks again
  EXPECT_NE(drop(x).to_vector(), t1);  // and new ones after
  drop.eval();
  EXPECT_EQ(drop(x).to_vector(), p);
  // one layer: nothing to drop between
  ad::Generator g3(16), g4(16);
  ad::nn::LSTM one(3, 4, {.dropout = 0.5}, ad::kFloat64, &g3);
  ad::nn::LSTM ref(3, 4, {}, ad::kFloat64, &g4);
  EXPECT_EQ(one(x).to_vector(), ref(x).to_vector());
  EXPECT_TRUE(contains(drop.extra_repr(), "dropout=0.5")) << drop.extra_repr();
}

// An LSTM remembers the sign of its first input through 7 noisy steps (a task a feed-forward
// net on the last step cannot solve), and the gradient reaches every parameter.
TEST(RNNLayers, LSTMLearnsToRememberTheFirstInput) {
  ad::Generator gen(17);
  const std::int64_t L = 8, N = 32;
  std::vector<double> xv(static_cast<std::size_t>(L * N)), yv(static_cast<std::size_t>(N));
  for (std::int64_t b = 0; b < N; ++b) {
    const bool pos = b % 2 == 0;
    for (std::int64_t t = 0; t < L; ++t)
      xv[static_cast<std::size_t>(t * N + b)] = t == 0 ? (pos ? 1.0 : -1.0) : gen.uniform(-1.0, 1.0);
    yv[static_cast<std::size_t>(b)] = pos ? 1.0 : 0.0;
  }
  const Tensor x = ad::tensor(xv, {L, N, 1}, {});
  const Tensor y = ad::tensor(yv, {N}, {}).to(ad::kInt64);
  ad::nn::LSTM lstm(1, 8, {}, ad::kFloat32, &gen);
  ad::nn::Linear head(8, 2, true, ad::kFloat32, &gen);
  std::vector<Tensor> params = lstm.parameters();
  for (const Tensor& p : head.parameters()) params.push_back(p);
  ad::optim::Adam opt(params, {.lr = 0.05});
  double first = 0, last = 0;
  for (int step = 0; step < 80; ++step) {
    opt.zero_grad();
    const Tensor loss = ad::nn::cross_entropy(head(lstm(x).select(0, L - 1)), y);
    loss.backward();
    if (step == 0) {
      first = loss.item();
      for (const Tensor& p : params) EXPECT_GT(ad::abs(p.grad()).sum().item(), 0.0);
    }
    last = loss.item();
    opt.step();
  }
  EXPECT_LT(last, 0.1 * first) << "first " << first << " last " << last;
  const Tensor pred = ad::argmax(head(lstm(x).select(0, L - 1)), 1);
  EXPECT_EQ(ad::eq(pred, y).to(ad::kFloat32).mean().item(), 1.0);
}

TEST(RNNLayers, ErrorsNameTheLayerTheShapesAndTheFix) {
  ad::nn::LSTM lstm(4, 3, {.num_layers = 2});
  const Tensor x = ad::zeros({5, 2, 4});
  auto msg = [](auto f) { return error_of(f); };
  std::string m = msg([&] { lstm.forward_with_state(ad::zeros({5, 2, 4, 1})); });
  EXPECT_TRUE(contains(m, "LSTM: input of shape [5, 2, 4, 1] must be [seq, batch, 4]")) << m;
  EXPECT_TRUE(contains(m, "unbatched [seq, 4]")) << m;
  m = msg([&] { lstm.forward_with_state(ad::zeros({5, 2, 7})); });
  EXPECT_TRUE(contains(m, "LSTM: input of shape [5, 2, 7] has 7 features but the layer's input_size is 4")) << m;
  m = msg([&] { lstm.forward_with_state(ad::zeros({5, 2, 4}, ad::dtype(ad::kInt64))); });
  EXPECT_TRUE(contains(m, "LSTM: needs a floating input, got Int64 [5, 2, 4]; convert it with .to(ad::kFloat32)")) << m;
  m = msg([&] { lstm.forward_with_state(ad::zeros({5, 2, 4}, ad::dtype(ad::kFloat64))); });
  EXPECT_TRUE(contains(m, "does not match the layer's Float32")) << m;
  m = msg([&] { lstm.forward_with_state(x, {ad::zeros({2, 3})}); });
  EXPECT_TRUE(contains(m,
                       "LSTM: h_0 of shape [2, 3] must be [2, 2, 3] (num_layers * num_directions = 2, batch = 2, "
                       "hidden_size = 3)"))
      << m;
  m = msg([&] { lstm.forward_with_state(x, {ad::zeros({2, 2, 3}), ad::zeros({2, 2, 4})}); });
  EXPECT_TRUE(contains(m, "LSTM: c_0 of shape [2, 2, 4] must be [2, 2, 3]")) << m;
  m = msg([&] { lstm.forward_with_state(x, {}, ad::index_tensor({5, 6})); });
  EXPECT_TRUE(contains(m, "LSTM: lengths[1] = 6 is out of range for an input of 5 time steps")) << m;
  EXPECT_TRUE(contains(m, "each length must be in [0, 5]")) << m;
  m = msg([&] { lstm.forward_with_state(x, {}, ad::index_tensor({-1, 2})); });
  EXPECT_TRUE(contains(m, "lengths[0] = -1 is out of range")) << m;
  m = msg([&] { lstm.forward_with_state(x, {}, ad::tensor({5.0, 5.0})); });
  EXPECT_TRUE(contains(m, "LSTM: lengths must be an Int64 tensor of shape [2]")) << m;
  EXPECT_TRUE(contains(m, "got Float32 [2]; convert it with .to(ad::kInt64)")) << m;
  m = msg([&] { lstm.forward_with_state(x, {}, ad::index_tensor({5, 5, 5})); });
  EXPECT_TRUE(contains(m, "of shape [2] (one length per sequence of the batch), got Int64 [3]")) << m;
  m = msg([&] { lstm.forward_with_state(ad::zeros({5, 4}), {}, ad::index_tensor({5})); });
  EXPECT_TRUE(contains(m, "narrow it instead")) << m;
  m = msg([&] { lstm.forward_with_state(ad::zeros({0, 2, 4})); });
  EXPECT_TRUE(contains(m, "has no time steps")) << m;
  ad::nn::GRU gru(4, 3, {.batch_first = true});
  m = msg([&] { gru.forward_with_state(ad::zeros({2, 5, 4}), {ad::zeros({1, 2, 3}), ad::zeros({1, 2, 3})}); });
  EXPECT_TRUE(contains(m, "GRU: has no cell state c_0 (only an LSTM has)")) << m;
  EXPECT_EQ(gru.forward_with_state(ad::zeros({2, 4})).output.shape(), (Shape{2, 3}));  // unbatched [seq, in]...
  m = msg([&] { gru(ad::zeros({2, 5})); });                                            // ...but its features must fit
  EXPECT_TRUE(contains(m, "GRU: GRU: input of shape [2, 5] has 5 features")) << m;
  m = msg([&] { gru(ad::zeros({3})); });
  EXPECT_TRUE(contains(m, "must be [batch, seq, 4] (batch_first)")) << m;
  // constructors
  EXPECT_TRUE(contains(msg([] { ad::nn::LSTM(0, 3); }), "LSTM: sizes must be positive, got input_size=0"));
  EXPECT_TRUE(contains(msg([] { ad::nn::GRU(2, 3, {.num_layers = 0}); }), "GRU: num_layers must be at least 1"));
  EXPECT_TRUE(contains(msg([] { ad::nn::RNN(2, 3, {.dropout = 1.0}); }), "RNN: dropout must be in [0, 1), got 1"));
  EXPECT_TRUE(contains(msg([] { ad::nn::RNN(2, 3, {}, ad::kInt64); }), "parameters need a floating dtype"));
  EXPECT_TRUE(contains(msg([] { ad::nn::LSTMCell(2, -1); }), "LSTMCell: sizes must be positive"));
  // cells
  ad::nn::LSTMCell cell(4, 3);
  m = msg([&] { cell.forward_with_state(ad::zeros({2, 5})); });
  EXPECT_TRUE(contains(m, "LSTMCell: input of shape [2, 5] must be [batch, 4] or an unbatched [4]")) << m;
  m = msg([&] { cell.forward_with_state(ad::zeros({2, 4}), {ad::zeros({3, 3})}); });
  EXPECT_TRUE(contains(m, "LSTMCell: h of shape [3, 3] must be [2, 3] (batch = 2, hidden_size = 3)")) << m;
  m = msg([&] { cell.forward_with_state(ad::zeros({4}), {ad::zeros({1, 3})}); });
  EXPECT_TRUE(contains(m, "must be [3] (hidden_size = 3, for an unbatched input)")) << m;
  m = msg([&] { ad::nn::RNNCell(4, 3).forward_with_state(ad::zeros({1, 4}), {ad::zeros({1, 3}), ad::zeros({1, 3})}); });
  EXPECT_TRUE(contains(m, "RNNCell: has no cell state c")) << m;
  m = msg([&] { cell.forward_with_state(ad::index_tensor({1, 2, 3, 4})); });
  EXPECT_TRUE(contains(m, "LSTMCell: needs a floating input, got Int64 [4]")) << m;
}

// ---- the engine's fused cell ops

TEST(RNNOps, FusedCellsGiveTheCompositeFormulasBits) {
  ad::Generator gen(18);
  const std::int64_t N = 3, H = 5;  // odd sizes: vector tails
  for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64}) {
    const auto r = [&](const Shape& s) { return (ad::randn(s, ad::dtype(dt), &gen) * 2.0).requires_grad_(); };
    const Tensor G = r({N, 4 * H}), c = r({N, H}), gi = r({N, 3 * H}), gh = r({N, 3 * H}), h = r({N, H});
    const Tensor bi = r({3 * H}), bh = r({3 * H});
    const Tensor c2 = ad::lstm_cell_state(G, c);
    EXPECT_EQ(c2.to_vector(),
              (ad::sigmoid(G.narrow(1, H, H)) * c + ad::sigmoid(G.narrow(1, 0, H)) * ad::tanh(G.narrow(1, 2 * H, H)))
                  .to_vector());
    const Tensor h2 = ad::lstm_cell_output(G, c2);
    EXPECT_EQ(h2.to_vector(), (ad::sigmoid(G.narrow(1, 3 * H, H)) * ad::tanh(c2)).to_vector());
    const Tensor a = gi + bi, b = gh + bh;
    const Tensor rz = ad::sigmoid(a.narrow(1, 0, 2 * H) + b.narrow(1, 0, 2 * H));
    const Tensor n = ad::tanh(a.narrow(1, 2 * H, H) + rz.narrow(1, 0, H) * b.narrow(1, 2 * H, H));
    const Tensor hg = ad::gru_cell(gi, gh, h, bi, bh);
    EXPECT_EQ(hg.to_vector(), (n + rz.narrow(1, H, H) * (h - n)).to_vector());
    // the fused backward (not recorded) against the same rule in differentiable ops (create_graph)
    const Tensor w1 = ad::randn({N, H}, ad::dtype(dt), &gen), w2 = ad::randn({N, H}, ad::dtype(dt), &gen);
    const Tensor loss = (h2 * w1).sum() + (c2 * w2).sum() + (hg * w1).sum();
    const std::vector<Tensor> wrt = {G, c, gi, gh, h, bi, bh};
    const auto fused = ad::grad({loss}, wrt, {}, {.retain_graph = true});
    const auto composite = ad::grad({loss}, wrt, {}, {.retain_graph = true, .create_graph = true});
    for (std::size_t i = 0; i < wrt.size(); ++i) EXPECT_EQ(fused[i].to_vector(), composite[i].to_vector()) << i;
    // and against autodiff of the formulas themselves
    const Tensor c2f =
        ad::sigmoid(G.narrow(1, H, H)) * c + ad::sigmoid(G.narrow(1, 0, H)) * ad::tanh(G.narrow(1, 2 * H, H));
    const Tensor lf = (ad::sigmoid(G.narrow(1, 3 * H, H)) * ad::tanh(c2f) * w1).sum() + (c2f * w2).sum() +
                      ((n + rz.narrow(1, H, H) * (h - n)) * w1).sum();
    const auto formula = ad::grad({lf}, wrt);
    const double tol = dt == ad::kFloat32 ? 1e-5 : 1e-13;
    for (std::size_t i = 0; i < wrt.size(); ++i) expect_close(fused[i], formula[i], tol, "input " + std::to_string(i));
  }
}

TEST(RNNOps, CheckTheirOperands) {
  const Tensor G = ad::zeros({2, 8}), c = ad::zeros({2, 2});
  EXPECT_EQ(ad::lstm_cell_state(G, c).shape(), (Shape{2, 2}));
  std::string m = error_of([&] { ad::lstm_cell_state(ad::zeros({2, 7}), c); });
  EXPECT_TRUE(contains(m, "lstm_cell_state: gates of shape [2, 7] and c of shape [2, 2] do not fit")) << m;
  m = error_of([&] { ad::lstm_cell_output(G, ad::zeros({2, 2}, ad::dtype(ad::kFloat64))); });
  EXPECT_TRUE(contains(m, "lstm_cell_output: gates is Float32 but c is Float64")) << m;
  m = error_of([&] { ad::lstm_cell_state(ad::zeros({8}), c); });
  EXPECT_TRUE(contains(m, "gates must be a floating [batch, features] tensor, got Float32 [8]")) << m;
  m = error_of([&] { ad::gru_cell(ad::zeros({2, 6}), ad::zeros({2, 5}), c); });
  EXPECT_TRUE(contains(m, "gru_cell: gi [2, 6] and gh [2, 5] must both be [N, 3 * H] = [2, 6]")) << m;
  m = error_of([&] { ad::gru_cell(ad::zeros({2, 6}), ad::zeros({2, 6}), c, ad::zeros({5})); });
  EXPECT_TRUE(contains(m, "gru_cell: a bias of shape [5] must be [3 * H] = [6]")) << m;
}

}  // namespace
