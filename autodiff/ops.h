#pragma once
// Every differentiable op of the engine, by family. Each is recorded on the graph when grad
// mode is on and an input requires grad. Binary ops broadcast like NumPy; the engine sums
// each gradient back to its input's shape.
#include <array>

#include "adgraph/autodiff/indexing.h"
#include "adgraph/autodiff/tensor.h"

namespace ad {

class Generator;  // random.h

// ---- arithmetic (ops/arithmetic.cpp)
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double p);
Tensor pow(const Tensor& a, const Tensor& p);
Tensor maximum(const Tensor& a, const Tensor& b);  // ties split the gradient equally
// The chain-rule products used by backward rules: g * d and g / d, but exactly 0 wherever g is
// 0, even where d is Inf or NaN. So a branch that where() did not take (it receives a zero
// gradient) cannot turn the result into NaN: where(x > 0, sqrt(x), x) has gradient 1 at x < 0.
Tensor mul_grad(const Tensor& g, const Tensor& d);
Tensor div_grad(const Tensor& g, const Tensor& d);
Tensor minimum(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// ---- elementwise math (ops/unary.cpp)
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);  // d|x|/dx at 0 is 0
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor clamp(const Tensor& a, double lo, double hi);  // gradient 1 on [lo, hi] inclusive, else 0

// ---- activations (ops/activation.cpp)
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);                             // gradient 0 at x = 0
Tensor leaky_relu(const Tensor& a, double slope = 0.01);  // gradient `slope` at x = 0
Tensor step(const Tensor& a);                             // 1 where x > 0 else 0; gradient 0 everywhere

// ---- comparisons and selection (ops/compare.cpp). Comparisons return Bool masks (operands of
// different dtypes are compared in the promoted dtype); logical ops take and return Bool.
// A mask converts to numbers with .to(ad::kFloat32), e.g. accuracy = mean(eq(a, b).to(kFloat32)).
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator&&(const Tensor& a, const Tensor& b);  // logical_and (both sides are evaluated)
Tensor operator||(const Tensor& a, const Tensor& b);  // logical_or (both sides are evaluated)
Tensor operator!(const Tensor& a);                    // logical_not
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, double b);
Tensor operator>(const Tensor& a, double b);
Tensor operator<=(const Tensor& a, double b);
Tensor operator>=(const Tensor& a, double b);
Tensor operator==(const Tensor& a, double b);
Tensor operator!=(const Tensor& a, double b);
// a where the Bool cond is true, else b; the gradient only flows to the branch taken (no NaN
// from the other).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- linear algebra (ops/linalg.cpp), BLAS-backed
// 1-D x 1-D: dot; 2-D x 2-D: matrix product; n-D: batched with broadcast batch dims;
// a 1-D operand is treated as a row (left) or column (right) vector and that dim dropped.
Tensor matmul(const Tensor& a, const Tensor& b);
// op(a) @ op(b) for operands with >= 2 dims, op transposing the last two dims when its flag is
// set; BLAS reads the transpose in place (no copy). matmul_t(x, W, false, true) is x @ W^T.
Tensor matmul_t(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b);

// ---- views (ops/shape_ops.cpp): no copy; the result shares storage with `a`, so writes
// through it reach `a`. reshape copies only when the strides cannot show the new shape.
Tensor reshape(const Tensor& a, const Shape& shape);  // one dim may be -1
Tensor view(const Tensor& a, const Shape& shape);     // like reshape, but throws instead of copying
Tensor transpose(const Tensor& a, std::int64_t d0, std::int64_t d1);
Tensor permute(const Tensor& a, const Shape& dims);
Tensor squeeze(const Tensor& a);
Tensor squeeze(const Tensor& a, std::int64_t dim);
Tensor unsqueeze(const Tensor& a, std::int64_t dim);
Tensor flatten(const Tensor& a);
Tensor expand(const Tensor& a, const Shape& shape);  // -1 keeps a dim; expanded dims have stride 0
Tensor broadcast_to(const Tensor& a, const Shape& shape);
// Elements start, start + step, ... before end along dim (negative ends count from the back).
Tensor slice(const Tensor& a, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1);
Tensor narrow(const Tensor& a, std::int64_t dim, std::int64_t start, std::int64_t length);
Tensor select(const Tensor& a, std::int64_t dim, std::int64_t index);  // drops dim
// The diagonal of dims d0, d1 (above it for offset > 0) as a new last dim, like PyTorch.
Tensor diagonal(const Tensor& a, std::int64_t offset = 0, std::int64_t d0 = 0, std::int64_t d1 = 1);
// Windows of `size` elements every `step` along dim: dim becomes the window count and a new last
// dim of `size` is added (sliding windows, e.g. for convolution). Windows may overlap.
Tensor unfold(const Tensor& a, std::int64_t dim, std::int64_t size, std::int64_t step);

// ---- selection (ops/select.cpp); index tensors are Int64
Tensor index_select(const Tensor& a, std::int64_t dim, const Tensor& index);
Tensor gather(const Tensor& a, std::int64_t dim, const Tensor& index);
// Adds `src` into zeros of `shape` at `index` along dim (the adjoint of gather).
Tensor scatter_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Tensor& src);
// Adds `src` into zeros of `shape` at rows `index` along dim (the adjoint of index_select).
Tensor index_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Tensor& src);
Tensor cat(const std::vector<Tensor>& ts, std::int64_t dim = 0);
// ---- indexing (ops/index.cpp; Tensor::index in indexing.h). Masks hold 0 / nonzero, any dtype,
// broadcast to a's shape.
Tensor index(const Tensor& a, const std::vector<TensorIndex>& indices);
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);  // value where the Bool mask is true
Tensor masked_select(const Tensor& a, const Tensor& mask);              // 1-D: the elements where mask, row-major
Tensor stack(const std::vector<Tensor>& ts, std::int64_t dim = 0);

// ---- reductions (ops/reduce.cpp); empty dims = all dims
Tensor sum(const Tensor& a);
Tensor sum(const Tensor& a, const Dims& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, const Dims& dims, bool keepdim = false);
Tensor amax(const Tensor& a, const Dims& dims = {}, bool keepdim = false);  // ties share the gradient
Tensor amin(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
Tensor argmax(const Tensor& a, std::int64_t dim, bool keepdim = false);  // Int64, not differentiable
Tensor argmin(const Tensor& a, std::int64_t dim, bool keepdim = false);
// The product over dims (all when empty); 1 over no elements. Its gradient is exact where
// elements are 0: prod of the others at a slice's only zero, 0 elsewhere in that slice.
Tensor prod(const Tensor& a, const Dims& dims = {}, bool keepdim = false);
// Variance and standard deviation over dims (all when empty), dividing by n - correction
// (1: the unbiased estimate, PyTorch's default); NaN when n <= correction.
Tensor var(const Tensor& a, const Dims& dims = {}, std::int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& a, const Dims& dims = {}, std::int64_t correction = 1, bool keepdim = false);
// The p-norm over dims (all when empty): p = 2 (default; gradient 0 at the zero vector), 1,
// infinity (INFINITY) or any p > 0.
Tensor norm(const Tensor& a, double p = 2.0, const Dims& dims = {}, bool keepdim = false);
// The largest (smallest) value along dim and its index, as PyTorch's max(dim). Ties: the first
// index; the gradient goes to that element only (amax/amin share it among ties instead).
ValuesIndices max(const Tensor& a, std::int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& a, std::int64_t dim, bool keepdim = false);
// Sums `g` down to `shape` (which must broadcast to g's shape): the adjoint of broadcasting.
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- softmax family (ops/softmax.cpp), numerically stable at extreme logits
Tensor logsumexp(const Tensor& a, const Dims& dims, bool keepdim = false);
Tensor softmax(const Tensor& a, std::int64_t dim);
Tensor log_softmax(const Tensor& a, std::int64_t dim);

// ---- convolution and pooling (ops/conv.cpp), in PyTorch's layouts: images [N, C, H, W] (or
// [C, H, W] without a batch; signals [N, C, L] or [C, L]), weights [out_channels,
// in_channels / groups, kH, kW]. Each op is built from pad, unfold windows, reshape and matmul,
// so their rules give every derivative order.
enum class PadMode { constant, reflect };
// Pads the last dims: pads = {left, right} of the last dim, then {top, bottom} of the one before,
// and so on (PyTorch's order). reflect mirrors about the edge without repeating it (pad < size).
Tensor pad(const Tensor& a, const std::vector<std::int64_t>& pads, PadMode mode = PadMode::constant,
           double value = 0.0);

using Size2 = std::array<std::int64_t, 2>;  // {height, width}
struct Conv2dOptions {
  Size2 stride = {1, 1};
  Size2 padding = {0, 0};  // zeros on both sides of each spatial dim
  Size2 dilation = {1, 1};
  std::int64_t groups = 1;  // in and out channels split into groups convolved separately
  bool same = false;        // PyTorch's padding "same": the output keeps the input's size (stride 1)
};
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, const Conv2dOptions& opt = {});
// The adjoint of conv2d (its gradient w.r.t. the input; "deconvolution"): x [N, C_in, H, W] (or
// [C_in, H, W]), weight [C_in, C_out / groups, kH, kW], output size
// (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1 (output_padding < stride;
// PyTorch also allows output_padding < dilation, which is refused here). Built as the weights' transpose times x,
// folded back into the image.
struct ConvTranspose2dOptions {
  Size2 stride = {1, 1};
  Size2 padding = {0, 0};
  Size2 output_padding = {0, 0};
  Size2 dilation = {1, 1};
  std::int64_t groups = 1;
};
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                        const ConvTranspose2dOptions& opt = {});
struct Conv1dOptions {
  std::int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool same = false;
};
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, const Conv1dOptions& opt = {});

// PyTorch's nn.functional unfold and fold (im2col and its adjoint): unfold takes every kH x kW
// window of x [N, C, H, W] (or [C, H, W]) to a column of [N, C*kH*kW, L], L windows, channel
// major, with zeros where a window reaches into the padding; fold adds such columns back into an
// image of output_size, overlaps summed. Each is the other's gradient.
struct FoldOptions {
  Size2 stride = {1, 1};
  Size2 padding = {0, 0};
  Size2 dilation = {1, 1};
};
Tensor unfold(const Tensor& x, Size2 kernel, const FoldOptions& opt = {});
Tensor fold(const Tensor& cols, Size2 output_size, Size2 kernel, const FoldOptions& opt = {});

struct Pool2dOptions {
  Size2 stride = {0, 0};   // 0: the kernel size (PyTorch's default)
  Size2 padding = {0, 0};  // at most half the kernel; max pads with -inf, avg with zeros (counted)
};
// Values and, as PyTorch's return_indices, each maximum's flat index into its input plane (h * W + w).
ValuesIndices max_pool2d_with_indices(const Tensor& x, Size2 kernel, const Pool2dOptions& opt = {});
Tensor max_pool2d(const Tensor& x, Size2 kernel, const Pool2dOptions& opt = {});
Tensor avg_pool2d(const Tensor& x, Size2 kernel, const Pool2dOptions& opt = {});
// Output cell (i, j) averages rows floor(i H / oH) .. ceil((i+1) H / oH) - 1 and the same in
// width, as PyTorch.
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);

// ---- normalization (ops/norm.cpp), PyTorch's functional forms; each is a composition of mean,
// var, sub, div and sqrt, so every derivative order follows from their rules.
// Batch norm over every dim but the channels (dim 1) of x [N, C, ...]. training: normalizes with
// the batch's mean and biased variance, and (when given) updates running_mean and running_var in
// place, without recording: r = (1 - momentum) r + momentum * stat, the variance unbiased.
// Otherwise normalizes with the running statistics. weight and bias are [C] (optional).
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight = {},
                  const Tensor& bias = {}, bool training = false, double momentum = 0.1, double eps = 1e-5);
// Normalizes over the last dims, of sizes normalized_shape; weight and bias have that shape.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
// Splits the C channels of x [N, C, ...] into num_groups groups and normalizes each group of each
// sample; weight and bias are [C].
Tensor group_norm(const Tensor& x, std::int64_t num_groups, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);

// ---- layer functions (ops/layers.cpp)
// Rows of weight [num_embeddings, dim] picked by the Int64 index (any shape): [..., dim]. The
// gradient is dense (index_select's rule adds each picked row's gradient into its row); the row
// padding_idx (when >= 0) gets none, as in PyTorch.
Tensor embedding(const Tensor& index, const Tensor& weight, std::int64_t padding_idx = -1);
// Int64 one-hot rows [..., num_classes] of an Int64 index (num_classes -1: max(index) + 1). Not
// differentiable; convert with .to() to multiply.
Tensor one_hot(const Tensor& index, std::int64_t num_classes = -1);
// Zeroes each element with probability p and scales the rest by 1 / (1 - p) (identity when not
// training or p = 0); the mask is drawn from gen (the global generator when null).
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
// Running sums along dim (Float or Int64; an Int64 overflow is an error); its gradient is the
// running sum of g taken from the end.
Tensor cumsum(const Tensor& a, std::int64_t dim);

// ---- recurrent cells (ops/rnn.cpp): the elementwise part of a time step in one op, for the
// layers of nn/rnn.h (the products with the weights are matmuls). gates [N, 4H] holds the LSTM's
// pre-activations W_ih x + b_ih + W_hh h + b_hh, blocks i, f, g, o (PyTorch's order):
// lstm_cell_state(gates, c) = sigmoid(f) c + sigmoid(i) tanh(g) = c' and lstm_cell_output(gates, c')
// = sigmoid(o) tanh(c') = h', each [N, H]. gru_cell: gi = W_ih x and gh = W_hh h [N, 3H] (blocks r,
// z, n), biases [3H] optional: r, z = sigmoid(gi + b_ih + gh + b_hh), n = tanh(gi_n + b_in + r
// (gh_n + b_hn)), h' = n + z (h - n). Each gives the bits of its formula written in ops, and its
// backward, unless recorded (create_graph), runs its differentiable rule fused, with the same bits.
Tensor lstm_cell_state(const Tensor& gates, const Tensor& c);
Tensor lstm_cell_output(const Tensor& gates, const Tensor& c);
Tensor gru_cell(const Tensor& gi, const Tensor& gh, const Tensor& h, const Tensor& b_ih = {}, const Tensor& b_hh = {});

// ---- loss terms with rules of their own (ops/loss.cpp)
// Elementwise binary cross-entropy of probabilities p against targets y, as PyTorch computes it:
// -(y max(log p, -100) + (1 - y) max(log(1 - p), -100)), gradient (p - y) / max(p (1 - p), 1e-12)
// for p (so a saturated wrong p = 0 against y = 1 gives loss 100 and gradient -1e12, and still
// learns) and max(log(1 - p), -100) - max(log p, -100) for y. p is not range-checked here.
Tensor binary_cross_entropy_terms(const Tensor& p, const Tensor& y);

}  // namespace ad
