#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "adgraph/autodiff/autodiff.h"

namespace {

struct JGraph {
  ad::DrawGuard draw;  // record the values and labels the pictures show
  ad::Tensor a = ad::scalar_tensor(5, ad::dtype(ad::kFloat64)).requires_grad_().set_label("a");
  ad::Tensor b = ad::scalar_tensor(3, ad::dtype(ad::kFloat64)).requires_grad_().set_label("b");
  ad::Tensor c = ad::scalar_tensor(2, ad::dtype(ad::kFloat64)).requires_grad_().set_label("c");
  ad::Tensor J = 3.0 * (a + b * c);
};

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Dot, OneVertexPerOpLeafAndConstant) {
  JGraph g;
  const std::string dot = ad::to_dot(g.J);
  EXPECT_EQ(dot.rfind("digraph", 0), 0u);
  EXPECT_EQ(count(dot, "label=\"mul"), 2u);  // b*c and 3*(...)
  EXPECT_EQ(count(dot, "label=\"add"), 1u);
  EXPECT_EQ(count(dot, "ellipse"), 3u);                 // the three leaves that require grad
  EXPECT_NE(dot.find("plaintext"), std::string::npos);  // the constant 3
  EXPECT_NE(dot.find("= 33"), std::string::npos);       // the output's value
  EXPECT_EQ(count(dot, "->"), 6u);
}

TEST(Dot, WithoutDrawGuardNodesKeepNoValuesButTheGraphIsDrawn) {
  ad::Tensor a = ad::scalar_tensor(5, ad::dtype(ad::kFloat64)).requires_grad_().set_label("a");
  ad::Tensor k = ad::scalar_tensor(7, ad::dtype(ad::kFloat64)).set_label("k");
  const ad::Tensor y = a * k;
  EXPECT_EQ(y.grad_fn()->drawing, nullptr);
  const std::string dot = ad::to_dot(y);
  EXPECT_NE(dot.find("label=\"mul"), std::string::npos) << dot;
  EXPECT_NE(dot.find("a\\n[]\\n= 5"), std::string::npos) << dot;  // leaves are drawn from the leaf itself
  EXPECT_EQ(dot.find("= 35"), std::string::npos) << dot;          // the product's value was not kept
  EXPECT_EQ(dot.find("k\\n"), std::string::npos) << dot;          // nor the constant's label
  {
    ad::DrawGuard draw;
    const ad::Tensor z = a * k;
    ASSERT_NE(z.grad_fn()->drawing, nullptr);
    const std::string annotated = ad::to_dot(z);
    EXPECT_NE(annotated.find("= 35"), std::string::npos) << annotated;
    EXPECT_NE(annotated.find("k\\n7"), std::string::npos) << annotated;
  }
  EXPECT_FALSE(ad::DrawMode::is_enabled());
}

TEST(Dot, EdgesFollowTheDataFlow) {
  ad::Tensor x = ad::scalar_tensor(2, ad::dtype(ad::kFloat64)).requires_grad_().set_label("x");
  const ad::Tensor y = ad::exp(x);
  const std::string dot = ad::to_dot(y);
  // vertex 0 is the output op, vertex 1 the leaf: the edge goes leaf -> op.
  EXPECT_NE(dot.find("1->0"), std::string::npos) << dot;
}

TEST(Dot, ShowsGradientsAfterBackward) {
  JGraph g;
  EXPECT_EQ(ad::to_dot(g.J).find("grad ="), std::string::npos);
  g.J.backward();
  const std::string dot = ad::to_dot(g.J);
  EXPECT_NE(dot.find("a\\n[]\\n= 5\\ngrad = 3"), std::string::npos) << dot;
  EXPECT_NE(dot.find("grad = 9"), std::string::npos);
}

TEST(Dot, InputsAndConstantsAreDistinguishedFromParameters) {
  ad::DrawGuard draw;
  ad::Tensor w = ad::ones({2, 2}).requires_grad_().set_label("W");
  ad::Tensor x = ad::ones({3, 2}).set_label("x");
  const std::string dot = ad::to_dot(ad::matmul(x, w).sum());
  EXPECT_NE(dot.find("#cfe3ff"), std::string::npos);  // labelled input x
  EXPECT_NE(dot.find("#c8f0c8"), std::string::npos);  // parameter W
  EXPECT_NE(dot.find("x\\n[3, 2]"), std::string::npos) << dot;
}

TEST(Dot, WritesAtomicallyAndRendersWhenDotIsInstalled) {
  JGraph g;
  // one directory per process: CTest runs this test in several processes at once (the capped reruns)
  const auto dir = std::filesystem::temp_directory_path() / ("ad_dot_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "j.dot").string();
  ad::write_dot(path, g.J, {.title = "J = 3(a + bc)"});
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("J = 3(a + bc)"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  if (ad::dot_available()) {
    const std::string svg = (dir / "j.svg").string();
    ASSERT_TRUE(ad::render_svg(path, svg));
    std::ifstream s(svg);
    std::stringstream svg_text;
    svg_text << s.rdbuf();
    EXPECT_NE(svg_text.str().find("<svg"), std::string::npos);
  } else {
    EXPECT_FALSE(ad::render_svg(path, (dir / "never.svg").string()));
  }
  EXPECT_THROW(ad::write_dot((dir / "no/such/dir/x.dot").string(), g.J), ad::Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
