#pragma once
// Indexing in the style of libtorch's torch::indexing:
//
//   using namespace ad::indexing;
//   x.index({0, Slice(1, 3), None, Ellipsis})   // x[0, 1:3, None, ...]
//   x.index({Slice(), idx})                     // idx: a 1-D Int64 tensor of positions in dim 1
//   x.index_put_({Slice(None, 2)}, 0.0)         // x[:2] = 0
//
// Integers select (and drop) a dim, Slice(start, stop, step) slices it (ends may be None or
// negative; step > 0), None inserts a dim of size 1, Ellipsis stands for every dim not indexed.
// These are views of x (no copy). One Int64 tensor index picks positions along its dim (a copy,
// differentiable like index_select). Masks: ad::masked_select and ad::masked_fill (ops.h).
#include <cstdint>
#include <optional>
#include <variant>

#include "adgraph/autodiff/tensor.h"

namespace ad::indexing {

struct NoneT {};
struct EllipsisT {};
inline constexpr NoneT None{};
inline constexpr EllipsisT Ellipsis{};

// One end of a slice: an index or None (the start or the end of the dim).
struct SliceBound {
  SliceBound(NoneT) {}                      // NOLINT: implicit, as in Slice(None, 3)
  SliceBound(std::int64_t v) : value(v) {}  // NOLINT
  SliceBound(int v) : value(v) {}           // NOLINT
  std::optional<std::int64_t> value;
};

struct Slice {
  Slice(SliceBound from = None, SliceBound to = None, std::int64_t by = 1)  // NOLINT
      : start(from.value), stop(to.value), step(by) {}
  std::optional<std::int64_t> start, stop;
  std::int64_t step;
};

}  // namespace ad::indexing

namespace ad {

// One entry of Tensor::index: an integer, a Slice, None, Ellipsis or an Int64 index tensor.
class TensorIndex {
 public:
  TensorIndex(std::int64_t i) : v_(i) {}                    // NOLINT: implicit, so {0, Slice(), ...} reads
  TensorIndex(int i) : v_(static_cast<std::int64_t>(i)) {}  // NOLINT
  TensorIndex(indexing::Slice s) : v_(s) {}                 // NOLINT
  TensorIndex(indexing::NoneT n) : v_(n) {}                 // NOLINT
  TensorIndex(indexing::EllipsisT e) : v_(e) {}             // NOLINT
  TensorIndex(Tensor t) : v_(std::move(t)) {}               // NOLINT
  const std::variant<std::int64_t, indexing::Slice, indexing::NoneT, indexing::EllipsisT, Tensor>& get() const {
    return v_;
  }

 private:
  std::variant<std::int64_t, indexing::Slice, indexing::NoneT, indexing::EllipsisT, Tensor> v_;
};

}  // namespace ad
