#pragma once
#include <string>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad {

struct DotOptions {
  std::string title;       // graph label
  bool show_grads = true;  // annotate leaves (and retain_grad() tensors) with their .grad
};

// Graphviz DOT of the graph that produced `outputs`: one box per op (name, output shape),
// leaves that require grad in green (with their value when they have one element), labelled
// inputs in blue, constants in grey, outputs in orange; edges follow the data flow. Values of
// ops' one-element outputs and of constants, and the labels of constants, appear when the
// forward pass ran under ad::DrawGuard (nodes do not keep them otherwise). Walks the graph with
// an explicit stack, so any depth is fine.
std::string to_dot(const std::vector<Tensor>& outputs, const DotOptions& opt = {});
std::string to_dot(const Tensor& output, const DotOptions& opt = {});

// Writes DOT to `path` atomically (a temporary file renamed into place). Throws on I/O errors.
void write_dot(const std::string& path, const Tensor& output, const DotOptions& opt = {});

// True when Graphviz's `dot` program is on PATH.
bool dot_available();
// Renders a DOT file to SVG with `dot -Tsvg`; returns false (and writes nothing) without `dot`.
bool render_svg(const std::string& dot_path, const std::string& svg_path);

}  // namespace ad
