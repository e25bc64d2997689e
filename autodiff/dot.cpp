// DOT export; the graph is collected with an explicit stack and written as plain DOT text.
// (Boost.Graph's write_graphviz was tried first: it escapes every vertex id with a regex, which
// made a 200k-node chain take 5 s; the direct writer takes a fraction of that.)
#include "adgraph/autodiff/dot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "adgraph/autodiff/file.h"
#include "adgraph/autodiff/node.h"

extern char** environ;

namespace ad {
namespace {

struct Vertex {
  std::string label, shape, fill;
  bool bold = false;
};

std::string num(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

double norm(const Tensor& t) {
  double s = 0;
  for (double x : t.to_vector()) s += x * x;
  return std::sqrt(s);
}

std::string grad_text(const std::shared_ptr<TensorImpl>& g) {
  if (!g) return "";
  const Tensor t(g);
  return t.numel() == 1 ? "\ngrad = " + num(t.item()) : "\n|grad| = " + num(norm(t));
}

std::string escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c == '\n' ? "\\n" : std::string(1, c);
  }
  return r;
}

Vertex op_vertex(const Node& n, const DotOptions& opt) {
  const auto retained = n.retained.lock();  // set by retain_grad(): we can show the tensor's label and grad
  std::string label = (retained && !retained->label_text().empty() ? retained->label_text() + " = " : "") + n.name +
                      "\n" + shape_str(n.out_shape);
  if (n.drawing && !std::isnan(n.drawing->out_value)) label += "\n= " + num(n.drawing->out_value);
  if (opt.show_grads && retained) label += grad_text(retained->grad);
  return {label, "box", "#fff7d6"};
}

Vertex leaf_vertex(const AccumulateGrad& acc, const DotOptions& opt) {
  const TensorImpl& leaf = *acc.leaf;
  std::string label =
      (leaf.label_text().empty() ? std::string("leaf") : leaf.label_text()) + "\n" + shape_str(leaf.shape);
  const Tensor t(acc.leaf);
  if (t.numel() == 1) label += "\n= " + num(t.item());
  if (opt.show_grads) label += grad_text(leaf.grad);
  return {label, "ellipse", "#c8f0c8"};
}

// A tensor that does not require grad; its value and label are known when recorded under DrawGuard.
Vertex input_vertex(const Shape& shape, double value, const std::string& name) {
  std::string label = name.empty() ? "" : name + "\n";
  if (!std::isnan(value))
    label += num(value);
  else
    label += shape_str(shape);
  if (name.empty()) return {label, "plaintext", "#e8e8e8"};
  return {label, "box", "#cfe3ff"};
}

}  // namespace

std::string to_dot(const std::vector<Tensor>& outputs, const DotOptions& opt) {
  std::vector<Vertex> vertices;
  std::vector<std::pair<std::size_t, std::size_t>> edges;  // data flow: input -> op
  std::unordered_map<const Node*, std::size_t> id;
  std::vector<const Node*> stack;
  auto vertex_of = [&](const Node* n) {
    auto [it, fresh] = id.try_emplace(n, vertices.size());
    if (fresh) {
      const auto* acc = dynamic_cast<const AccumulateGrad*>(n);
      vertices.push_back(acc ? leaf_vertex(*acc, opt) : op_vertex(*n, opt));
      stack.push_back(n);
    }
    return it->second;
  };
  for (const Tensor& out : outputs) {
    if (!out.defined()) continue;
    if (!out.grad_fn() && !out.requires_grad()) {  // a constant: one vertex, no graph
      vertices.push_back(input_vertex(out.shape(), out.numel() == 1 ? out.item() : NAN, out.label()));
      vertices.back().fill = "#ffd8a8";
      vertices.back().bold = true;
      continue;
    }
    const std::size_t root = vertex_of(out.grad_fn() ? out.grad_fn().get() : grad_accumulator(out).get());
    vertices[root].fill = "#ffd8a8";
    vertices[root].bold = true;
  }
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    const std::size_t target = id.at(n);
    for (std::size_t i = 0; i < n->next.size(); ++i) {
      if (n->next[i]) {
        edges.emplace_back(vertex_of(n->next[i].get()), target);
      } else if (i < n->inputs.size()) {  // an input that does not require grad
        const DrawInfo* d = n->drawing.get();
        vertices.push_back(input_vertex(n->inputs[i].shape, d ? d->input_value[i] : NAN, d ? d->input_label[i] : ""));
        edges.emplace_back(vertices.size() - 1, target);
      }
    }
  }
  std::string dot = "digraph G {\nrankdir=TB;\n";
  if (!opt.title.empty()) dot += "label=\"" + escape(opt.title) + "\";\nlabelloc=t;\n";
  for (std::size_t v = 0; v < vertices.size(); ++v) {
    const Vertex& x = vertices[v];
    dot += std::to_string(v) + " [label=\"" + escape(x.label) + "\", shape=" + x.shape + ", style=\"filled" +
           (x.shape == "box" ? ",rounded" : "") + (x.bold ? ",bold" : "") + "\", fillcolor=\"" + x.fill +
           "\", fontname=\"Helvetica\"];\n";
  }
  for (const auto& [from, to] : edges) dot += std::to_string(from) + "->" + std::to_string(to) + ";\n";
  return dot + "}\n";
}

std::string to_dot(const Tensor& output, const DotOptions& opt) { return to_dot(std::vector<Tensor>{output}, opt); }

void write_dot(const std::string& path, const Tensor& output, const DotOptions& opt) {
  const std::string text = to_dot(output, opt);
  replace_file(path, text, "write_dot");
}

namespace {
// Runs a program without a shell (no quoting issues), its output discarded; returns its exit code.
int run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, argv[0], &quiet, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&quiet);
  if (spawned != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

bool dot_available() { return run({"dot", "-V"}) == 0; }

bool render_svg(const std::string& dot_path, const std::string& svg_path) {
  if (!dot_available()) return false;
  const std::string tmp = svg_path + ".tmp";
  if (run({"dot", "-Tsvg", dot_path, "-o", tmp}) != 0) throw Error("render_svg: dot failed on '" + dot_path + "'");
  std::filesystem::rename(tmp, svg_path);
  return true;
}

}  // namespace ad
