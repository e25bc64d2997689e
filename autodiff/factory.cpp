#include <algorithm>
#include <cmath>

#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/random.h"
#include "adgraph/autodiff/tensor.h"

namespace ad {
namespace {

void check_shape(const Shape& s, const char* op) {
  for (auto d : s)
    if (d < 0) throw Error(std::string(op) + ": negative size in shape " + shape_str(s));
}

Tensor finish(Tensor t, const TensorOptions& opt) {
  if (opt.requires_grad) t.requires_grad_(true);
  return t;
}

}  // namespace

Tensor empty(const Shape& shape, TensorOptions opt) {
  check_shape(shape, "empty");
  auto st = std::make_shared<Storage>(opt.dtype, numel_of(shape));
  return finish(Tensor(std::make_shared<TensorImpl>(std::move(st), shape)), opt);
}

Tensor full(const Shape& shape, double value, TensorOptions opt) {
  const bool rg = opt.requires_grad;
  opt.requires_grad = false;
  Tensor t = empty(shape, opt);
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(value);
  });
  return rg ? t.requires_grad_(true) : t;
}

Tensor zeros(const Shape& shape, TensorOptions opt) { return full(shape, 0.0, opt); }
Tensor ones(const Shape& shape, TensorOptions opt) { return full(shape, 1.0, opt); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), dtype(t.dtype())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), dtype(t.dtype())); }
Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, dtype(t.dtype())); }

Tensor tensor(const std::vector<double>& values, const Shape& shape, TensorOptions opt) {
  if (numel_of(shape) != static_cast<std::int64_t>(values.size()))
    throw Error("tensor: " + std::to_string(values.size()) + " values do not fill shape " + shape_str(shape) + " (" +
                std::to_string(numel_of(shape)) + " elements)");
  const bool rg = opt.requires_grad;
  opt.requires_grad = false;
  Tensor t = empty(shape, opt);
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return rg ? t.requires_grad_(true) : t;
}

Tensor tensor(const std::vector<double>& values, TensorOptions opt) {
  return tensor(values, Shape{static_cast<std::int64_t>(values.size())}, opt);
}
Tensor tensor(std::initializer_list<double> values, TensorOptions opt) {
  return tensor(std::vector<double>(values), opt);
}
Tensor scalar_tensor(double v, TensorOptions opt) { return tensor({v}, Shape{}, opt); }

Tensor index_tensor(const std::vector<std::int64_t>& values) {
  return index_tensor(values, Shape{static_cast<std::int64_t>(values.size())});
}

Tensor index_tensor(const std::vector<std::int64_t>& values, const Shape& shape) {
  if (numel_of(shape) != static_cast<std::int64_t>(values.size()))
    throw Error("index_tensor: " + std::to_string(values.size()) + " values do not fill shape " + shape_str(shape));
  Tensor t = empty(shape, dtype(kInt64));
  std::copy(values.begin(), values.end(), t.data_ptr<std::int64_t>());
  return t;
}

Tensor arange(double start, double end, double step, TensorOptions opt) {
  if (step == 0.0 || (end - start) * step < 0.0)
    throw Error("arange: step " + std::to_string(step) + " does not lead from " + std::to_string(start) + " to " +
                std::to_string(end));
  const auto n = static_cast<std::int64_t>(std::ceil((end - start) / step));
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = start + static_cast<double>(i) * step;
  return tensor(v, opt);
}
Tensor arange(double end, TensorOptions opt) { return arange(0.0, end, 1.0, opt); }

Tensor linspace(double start, double end, std::int64_t steps, TensorOptions opt) {
  if (steps < 1) throw Error("linspace: steps must be >= 1, got " + std::to_string(steps));
  std::vector<double> v(static_cast<std::size_t>(steps));
  for (std::int64_t i = 0; i < steps; ++i)
    v[static_cast<std::size_t>(i)] =
        steps == 1 ? start : start + (end - start) * static_cast<double>(i) / static_cast<double>(steps - 1);
  return tensor(v, opt);
}

Tensor eye(std::int64_t n, TensorOptions opt) {
  Tensor t = zeros({n, n}, dtype(opt.dtype));
  dispatch_all(t.dtype(), [&]<class T>() {
    for (std::int64_t i = 0; i < n; ++i) t.data_ptr<T>()[i * n + i] = T(1);
  });
  return opt.requires_grad ? t.requires_grad_(true) : t;
}

// ---- random
double Generator::uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(eng_); }
double Generator::normal(double mean, double std) { return std::normal_distribution<double>(mean, std)(eng_); }

Generator& default_generator() {
  thread_local Generator g(5489u);
  return g;
}
void manual_seed(std::uint64_t seed) { default_generator().seed(seed); }

namespace {
template <class Draw>
Tensor random_fill(const Shape& shape, TensorOptions opt, Generator* gen, const char* op, Draw draw) {
  if (!is_floating(opt.dtype)) throw Error(std::string(op) + ": needs a floating dtype; use randint for integers");
  Generator& g = gen ? *gen : default_generator();
  std::vector<double> v(static_cast<std::size_t>(numel_of(shape)));
  for (auto& x : v) x = draw(g);
  return tensor(v, shape, opt);
}
}  // namespace

Tensor rand(const Shape& shape, TensorOptions opt, Generator* gen) { return uniform(shape, 0.0, 1.0, opt, gen); }
Tensor randn(const Shape& shape, TensorOptions opt, Generator* gen) {
  return random_fill(shape, opt, gen, "randn", [](Generator& g) { return g.normal(); });
}
Tensor uniform(const Shape& shape, double lo, double hi, TensorOptions opt, Generator* gen) {
  if (!(lo < hi)) throw Error("uniform: need lo < hi, got " + std::to_string(lo) + " and " + std::to_string(hi));
  // A double just below hi can round up to hi in Float32: keep the interval half-open.
  const double top = opt.dtype == kFloat32 ? std::nextafter(static_cast<float>(hi), static_cast<float>(lo)) : hi;
  return random_fill(shape, opt, gen, "uniform", [=](Generator& g) { return std::min(g.uniform(lo, hi), top); });
}
Tensor normal(const Shape& shape, double mean, double std, TensorOptions opt, Generator* gen) {
  if (!(std > 0.0)) throw Error("normal: std must be > 0, got " + std::to_string(std));
  return random_fill(shape, opt, gen, "normal", [=](Generator& g) { return g.normal(mean, std); });
}

Tensor randint(std::int64_t lo, std::int64_t hi, const Shape& shape, Generator* gen) {
  if (lo >= hi) throw Error("randint: need lo < hi, got " + std::to_string(lo) + " and " + std::to_string(hi));
  Generator& g = gen ? *gen : default_generator();
  std::uniform_int_distribution<std::int64_t> dist(lo, hi - 1);
  std::vector<std::int64_t> v(static_cast<std::size_t>(numel_of(shape)));
  for (auto& x : v) x = dist(g.engine());
  return index_tensor(v, shape);
}

Tensor randperm(std::int64_t n, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates with our own engine: same result on every platform
    std::uniform_int_distribution<std::int64_t> d(0, i);
    std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(d(g.engine()))]);
  }
  return index_tensor(v);
}

}  // namespace ad
