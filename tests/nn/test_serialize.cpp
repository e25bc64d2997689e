#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/autodiff/safetensors.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/normalization.h"
#include "adgraph/nn/serialize.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using ad::testing::contains;
using ad::testing::error_of;

// A model with children, as PyTorch would name it: fc1.weight, fc1.bias, fc2.weight, fc2.bias.
class TwoLayer : public ad::nn::Module {
 public:
  TwoLayer(std::int64_t in, std::int64_t hidden, std::int64_t out, std::uint64_t seed, ad::Dtype dtype = ad::kFloat32,
           bool bias2 = true)
      : gen_(seed) {
    fc1 = register_module("fc1", std::make_shared<ad::nn::Linear>(in, hidden, true, dtype, &gen_));
    fc2 = register_module("fc2", std::make_shared<ad::nn::Linear>(hidden, out, bias2, dtype, &gen_));
  }
  ad::Tensor forward(const ad::Tensor& x) const { return fc2->forward(fc1->forward(x).relu()); }
  std::shared_ptr<ad::nn::Linear> fc1, fc2;

 private:
  ad::Generator gen_;
};

class Serialize : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ad_serialize_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& leaf) const { return (dir_ / leaf).string(); }
  fs::path dir_;
};

std::string raw_bytes(const ad::Tensor& t) {
  const auto* p = static_cast<const char*>(t.impl()->storage->data);
  return std::string(p, p + static_cast<std::size_t>(t.numel()) * ad::dtype_size(t.dtype()));
}

// Names, shapes, dtypes and exact bytes of every parameter.
std::vector<std::string> snapshot(const ad::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, t] : m.named_parameters())
    out.push_back(name + " " + ad::shape_str(t.shape()) + " " + ad::dtype_name(t.dtype()) + " " + raw_bytes(t));
  return out;
}

using ad::testing::read_bytes;
using ad::testing::write_bytes;

TEST_F(Serialize, LinearRoundTripIsBitExact) {
  ad::Generator g1(1), g2(2);
  ad::nn::Linear a(5, 3, true, ad::kFloat64, &g1), b(5, 3, true, ad::kFloat64, &g2);
  ASSERT_NE(snapshot(a), snapshot(b));
  ad::nn::save(a, path("lin.safetensors"));
  ad::nn::load(b, path("lin.safetensors"));
  EXPECT_EQ(snapshot(a), snapshot(b));
}

TEST_F(Serialize, ModuleWithChildrenRoundTripsAndUsesPyTorchNames) {
  TwoLayer a(4, 6, 2, 1), b(4, 6, 2, 2);
  ASSERT_NE(snapshot(a), snapshot(b));
  ad::nn::save(a, path("net.safetensors"));

  const auto file = ad::load_safetensors(path("net.safetensors"));
  ASSERT_EQ(file.tensors.size(), 4u);
  EXPECT_EQ(file.tensors[0].first, "fc1.weight");
  EXPECT_EQ(file.tensors[0].second.shape(), (ad::Shape{6, 4}));
  EXPECT_EQ(file.tensors[1].first, "fc1.bias");
  EXPECT_EQ(file.tensors[2].first, "fc2.weight");
  EXPECT_EQ(file.tensors[3].first, "fc2.bias");
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));

  ad::nn::load(b, path("net.safetensors"));
  EXPECT_EQ(snapshot(a), snapshot(b));
  const auto x = ad::tensor({0.5, -1.0, 2.0, 0.25, 1.0, 1.0, -3.0, 0.0}, {2, 4}, ad::dtype(ad::kFloat32));
  EXPECT_EQ(a.forward(x).to_vector(), b.forward(x).to_vector());
}

// load copies into the existing tensors: handles taken before (an optimizer's) see the values,
// the parameters stay leaves that require grad, and gradients still flow to them.
TEST_F(Serialize, LoadKeepsParameterIdentity) {
  TwoLayer a(3, 4, 2, 1), b(3, 4, 2, 2);
  ad::nn::save(a, path("net.safetensors"));
  const std::vector<ad::Tensor> handles = b.parameters();
  std::vector<const ad::TensorImpl*> impls;
  for (const auto& t : handles) impls.push_back(t.impl());

  ad::nn::load(b, path("net.safetensors"));
  const auto after = b.parameters();
  const auto expected = a.parameters();
  ASSERT_EQ(after.size(), handles.size());
  for (std::size_t i = 0; i < handles.size(); ++i) {
    EXPECT_EQ(after[i].impl(), impls[i]);
    EXPECT_EQ(raw_bytes(handles[i]), raw_bytes(expected[i]));
    EXPECT_TRUE(handles[i].requires_grad());
    EXPECT_TRUE(handles[i].is_leaf());
  }
  b.forward(ad::ones({2, 3})).sum().backward();
  for (const auto& t : handles) EXPECT_TRUE(t.grad().defined());
}

// Each failure throws a useful ad::Error and leaves every parameter bit-identical.
TEST_F(Serialize, FailedLoadsLeaveTheModuleUntouched) {
  TwoLayer net(4, 6, 2, 7);
  const auto before = snapshot(net);
  std::vector<ad::Tensor> handles = net.parameters();

  auto expect_fails = [&](const std::string& file, std::initializer_list<const char*> parts) {
    const std::string msg = error_of([&] { ad::nn::load(net, file); });
    EXPECT_TRUE(contains(msg, file)) << msg;
    for (const char* p : parts) EXPECT_TRUE(contains(msg, p)) << "missing '" << p << "' in: " << msg;
    EXPECT_EQ(snapshot(net), before);
    const auto now = net.parameters();
    for (std::size_t i = 0; i < now.size(); ++i) EXPECT_EQ(now[i].impl(), handles[i].impl());
  };

  // Another architecture: the hidden layer is wider.
  TwoLayer wide(4, 8, 2, 1);
  ad::nn::save(wide, path("wide.safetensors"));
  expect_fails(path("wide.safetensors"), {"fc1.weight: expected [6, 4] Float32, found [8, 4] Float32",
                                          "fc1.bias: expected [6] Float32, found [8] Float32",
                                          "fc2.weight: expected [2, 6] Float32, found [2, 8] Float32"});

  // A missing key: fc2 without a bias.
  TwoLayer nobias(4, 6, 2, 1, ad::kFloat32, false);
  ad::nn::save(nobias, path("nobias.safetensors"));
  expect_fails(path("nobias.safetensors"), {"missing keys", "fc2.bias (expected [2] Float32)"});

  // An unexpected key, alone (all the module's keys present and matching).
  TwoLayer same(4, 6, 2, 1);
  auto extra = same.named_parameters();
  extra.emplace_back("fc3.weight", ad::zeros({1, 1}));
  ad::save_safetensors(path("extra.safetensors"), extra);
  expect_fails(path("extra.safetensors"), {"unexpected keys", "fc3.weight ([1, 1] Float32)"});

  // A dtype mismatch.
  TwoLayer f64(4, 6, 2, 1, ad::kFloat64);
  ad::nn::save(f64, path("f64.safetensors"));
  expect_fails(path("f64.safetensors"), {"fc1.weight: the file stores Float64, the module's [6, 4] tensor is Float32",
                                         "fc2.bias: the file stores Float64", "LoadOptions{.convert_dtype = true}"});

  // A truncated file, cut in the data and in the header.
  TwoLayer good(4, 6, 2, 1);
  ad::nn::save(good, path("good.safetensors"));
  const std::string bytes = read_bytes(path("good.safetensors"));
  write_bytes(path("cut.safetensors"), bytes.substr(0, bytes.size() - 5));
  expect_fails(path("cut.safetensors"), {"load_safetensors", "run past"});
  write_bytes(path("cut2.safetensors"), bytes.substr(0, 40));
  expect_fails(path("cut2.safetensors"), {"load_safetensors", "truncated"});

  // A corrupt header.
  std::string corrupt = bytes;
  corrupt[8] = '!';
  write_bytes(path("corrupt.safetensors"), corrupt);
  expect_fails(path("corrupt.safetensors"), {"load_safetensors", "not a JSON object"});
  corrupt = bytes;
  corrupt[corrupt.find("\"shape\"") + 9] = '9';  // [6,4] -> [9,4]: disagrees with data_offsets
  write_bytes(path("corrupt2.safetensors"), corrupt);
  expect_fails(path("corrupt2.safetensors"), {"fc1.weight", "shape [9, 4]"});

  // A missing file.
  expect_fails(path("none.safetensors"), {"no such file"});

  // After all that, a good file still loads.
  ad::nn::load(net, path("good.safetensors"));
  EXPECT_EQ(snapshot(net), snapshot(good));
}

std::string le64(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

std::string le16s(std::initializer_list<std::uint16_t> v) {
  std::string out;
  for (std::uint16_t x : v) {
    out += static_cast<char>(x & 0xff);
    out += static_cast<char>(x >> 8);
  }
  return out;
}

// A file written by hand as PyTorch writes a model.half() / .bfloat16() state dict: the weight
// in F16, the bias in BF16. Into a Float32 (or Float64) model it is refused, naming each tensor,
// both dtypes and the fix, and the model is untouched; with convert_dtype every value arrives
// exactly.
TEST_F(Serialize, HalfFileIntoAFloatModelNeedsConvertDtype) {
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("weight":{"dtype":"F16","shape":[3,2],"data_offsets":[0,12]},)"
                             R"("bias":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]}})";
  const std::string data = le16s({0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000}) + le16s({0x3F80, 0x4049, 0xC000});
  write_bytes(path("half.safetensors"), le64(header.size()) + header + data);
  const std::vector<double> weight = {1.0, -2.0, 0.5, 65504.0, 0x1p-24, -0.0}, bias = {1.0, 3.140625, -2.0};

  for (ad::Dtype d : {ad::kFloat32, ad::kFloat64}) {
    SCOPED_TRACE(ad::dtype_name(d));
    ad::Generator gen(3);
    ad::nn::Linear lin(2, 3, true, d, &gen);
    const auto before = snapshot(lin);
    const std::string msg = error_of([&] { ad::nn::load(lin, path("half.safetensors")); });
    const std::string name = ad::dtype_name(d);
    for (const std::string& part :
         {"weight: the file stores F16, the module's [3, 2] tensor is " + name,
          "bias: the file stores BF16, the module's [3] tensor is " + name,
          std::string("ad::nn::LoadOptions{.convert_dtype = true}"), std::string("nothing was loaded")})
      EXPECT_TRUE(contains(msg, part)) << "missing '" << part << "' in: " << msg;
    EXPECT_EQ(snapshot(lin), before);

    ad::nn::load(lin, path("half.safetensors"), {.convert_dtype = true});
    EXPECT_EQ(lin.weight().dtype(), d);
    EXPECT_EQ(lin.weight().to_vector(), weight);
    EXPECT_TRUE(std::signbit(lin.weight().to_vector()[5]));
    EXPECT_EQ(lin.bias().to_vector(), bias);
    EXPECT_TRUE(lin.weight().requires_grad());
  }
}

// F64 into Float32 rounds to nearest with convert_dtype (and is refused without); a model saved
// as F16 or BF16 comes back within the format's rounding, its Int64 counter exact; an integer
// entry never converts to a floating one.
TEST_F(Serialize, ConvertDtypeRoundsAndSavesInHalf) {
  TwoLayer f64(4, 6, 2, 1, ad::kFloat64), f32(4, 6, 2, 2);
  ad::nn::save(f64, path("f64.safetensors"));
  ad::nn::load(f32, path("f64.safetensors"), {.convert_dtype = true});
  const auto a = f64.parameters(), b = f32.parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].dtype(), ad::kFloat32);
    std::vector<double> rounded;
    for (double v : a[i].to_vector()) rounded.push_back(static_cast<float>(v));
    EXPECT_EQ(b[i].to_vector(), rounded);
  }

  struct Net : ad::nn::Module {
    Net() {
      fc = register_module("fc", std::make_shared<ad::nn::Linear>(3, 4));
      bn = register_module("bn", std::make_shared<ad::nn::BatchNorm1d>(4));
    }
    std::shared_ptr<ad::nn::Linear> fc;
    std::shared_ptr<ad::nn::BatchNorm1d> bn;
  };
  Net src, dst;
  (*src.bn)(ad::randn({8, 4}));  // running statistics and the counter away from their start
  for (ad::FloatFormat format : {ad::FloatFormat::F16, ad::FloatFormat::BF16}) {
    const double ulp = format == ad::FloatFormat::F16 ? 0x1p-11 : 0x1p-8;  // half an ulp, relative
    ad::nn::save(src, path("half.safetensors"), {.floats_as = format});
    const auto file = ad::load_safetensors(path("half.safetensors"));
    EXPECT_EQ(file.stored_dtypes.at("fc.weight"), format == ad::FloatFormat::F16 ? "F16" : "BF16");
    EXPECT_EQ(file.stored_dtypes.at("bn.num_batches_tracked"), "I64");
    EXPECT_TRUE(contains(error_of([&] { ad::nn::load(dst, path("half.safetensors")); }), "bn.running_var"));
    ad::nn::load(dst, path("half.safetensors"), {.convert_dtype = true});
    const auto want = src.named_state(), got = dst.named_state();
    for (std::size_t i = 0; i < want.size(); ++i) {
      const std::vector<double> w = want[i].second.to_vector(), g = got[i].second.to_vector();
      for (std::size_t j = 0; j < w.size(); ++j)
        EXPECT_LE(std::abs(g[j] - w[j]), ulp * std::abs(w[j])) << want[i].first;
    }
    EXPECT_EQ(dst.bn->buffer("num_batches_tracked").item<std::int64_t>(), 1);
  }

  auto state = src.named_state();
  for (auto& [name, t] : state)
    if (name == "bn.num_batches_tracked") t = ad::tensor({1.0}, {}, {});
  ad::save_safetensors(path("float_counter.safetensors"), state);
  const std::string msg =
      error_of([&] { ad::nn::load(dst, path("float_counter.safetensors"), {.convert_dtype = true}); });
  EXPECT_TRUE(contains(msg, "never converted")) << msg;
  EXPECT_TRUE(contains(msg, "bn.num_batches_tracked: the file stores Float32, the module's [] tensor is Int64")) << msg;
}

}  // namespace
