// A computation graph and the chain rule: J = 3(a + b*c) at a=5, b=3, c=2.
// Forward: u = bc = 6, v = a + u = 11, J = 3v = 33.
// Backward: dJ/dv = 3, dJ/du = dJ/dv * dv/du = 3, dJ/da = 3, dJ/db = dJ/du * c = 6, dJ/dc = dJ/du * b = 9.
// Writes the annotated graph as DOT (and SVG when Graphviz is installed).
//   usage: 01_computation_graph [output-dir]
#include <cstdio>
#include <filesystem>

#include "adgraph/autodiff/autodiff.h"

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "out";
  std::filesystem::create_directories(dir);

  ad::DrawGuard draw;  // keep the values and labels the picture shows
  ad::Tensor a = ad::scalar_tensor(5).requires_grad_().set_label("a");
  ad::Tensor b = ad::scalar_tensor(3).requires_grad_().set_label("b");
  ad::Tensor c = ad::scalar_tensor(2).requires_grad_().set_label("c");
  ad::Tensor u = (b * c).set_label("u");
  ad::Tensor v = (a + u).set_label("v");
  ad::Tensor J = 3.0 * v;
  u.retain_grad();  // keep the intermediate gradients so the picture shows them
  v.retain_grad();
  J.backward();

  std::printf("u = b*c = %g, v = a + u = %g, J = 3v = %g\n", u.item(), v.item(), J.item());
  std::printf("dJ/dv = %g, dJ/du = %g\n", v.grad().item(), u.grad().item());
  std::printf("dJ/da = %g, dJ/db = %g, dJ/dc = %g\n", a.grad().item(), b.grad().item(), c.grad().item());
  const bool ok = J.item() == 33 && a.grad().item() == 3 && b.grad().item() == 6 && c.grad().item() == 9;

  const std::string dot = (dir / "computation_graph.dot").string();
  ad::write_dot(dot, J, {.title = "J = 3(a + b*c)"});
  std::printf("graph: %s\n", dot.c_str());
  const std::string svg = (dir / "computation_graph.svg").string();
  if (ad::render_svg(dot, svg)) std::printf("picture: %s\n", svg.c_str());
  std::printf(ok ? "matches the hand computation\n" : "MISMATCH with the hand computation\n");
  return ok ? 0 : 1;
}
