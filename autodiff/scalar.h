#pragma once
// The fast scalar path: `ad::Var`, a double recorded on a thread-local tape (Adept / CoDiPack style).
//
// Operators and functions on Vars build expression objects (expression templates) that compute the
// value and the local partial derivatives as they go; nothing is recorded until the expression is
// assigned to a Var. Then one statement is appended to the tape: the indices of the Vars the
// expression read and d(result)/d(each), the chain rule through the expression multiplied out at
// compile-time-known shape. `y = y * 1.000001 + 0.5` is one statement with one argument, not two
// tape entries. backward() is a single reverse loop over the statements: no graph objects, no heap
// allocation per node, no virtual calls, no recursion.
//
//   ad::ScalarTapeScope scope;            // the tape is reset when the scope ends
//   ad::Var x = 1.5, y = 2.0;
//   ad::Var f = ad::sin(x) * y + ad::exp(x / y);   // one statement
//   f.backward();                         // x.grad(), y.grad() now hold df/dx, df/dy
//
// An expression holds copies of the Vars it reads (16 bytes each), so `auto e = x * y;` is safe
// to keep and to assign later; it is recorded each time it is assigned. Each thread has its own
// tape, so threads build and differentiate independently. A Var is only valid on the thread that
// created it and until that thread's tape is reset.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <type_traits>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/scalar_rules.h"

namespace ad {

class Var;

namespace scalar_detail {

// The tape has two streams: the arguments of every statement, back to back in chunks of Arg, and
// one count per statement (how many arguments it has), indexed by the statement. Statement k
// defines the Var of index k. The reverse sweep finds statement k's arguments by stepping back
// count[k] Args: a count is read from an address that does not depend on the previous step, so
// the sweep does not wait on its own loads.
struct Arg {
  double w;             // d(statement)/d(argument)
  std::uint32_t index;  // the argument's statement
  std::uint32_t unused;
};
inline constexpr std::size_t kMaxArgs = 4096;  // per statement; a tape chunk holds far more

// The hot part of the current thread's tape: where the next statement goes. constinit, so
// reaching it costs a plain thread-local access (no lazy-initialisation guard). The memory it
// points into is owned by the tape in scalar.cpp.
struct TapeCursor {
  Arg* next = nullptr;  // the next statement's first argument
  Arg* end = nullptr;   // of the current chunk
  std::uint32_t* counts = nullptr;
  std::uint32_t count_capacity = 0;
  std::uint32_t index = 0;  // index of the next statement
  std::uint32_t epoch = 0;  // generation of the tape; 0 until the thread first records
};
inline constinit thread_local TapeCursor tl_cursor{};

void grow_tape();    // a new chunk, which holds any statement (and the tape itself on first use)
void grow_counts();  // room for more statements
[[noreturn]] void throw_stale(const char* what);

// Room for a statement of up to n arguments: where its first Arg goes. A chunk is left when no
// more than n Args remain, which also covers the tape not started yet (next == end == null).
inline Arg* reserve(std::size_t n) {
  TapeCursor& c = tl_cursor;
  if (static_cast<std::size_t>(c.end - c.next) <= n) [[unlikely]] {
    grow_tape();
  }
  return c.next;
}
// Closes the statement whose arguments were written from `begin` (what reserve() returned) up to
// `end`; returns its index. Taking `begin` spares a reload of the cursor after the argument stores.
inline std::uint32_t commit(Arg* begin, Arg* end) {
  TapeCursor& c = tl_cursor;
  const std::uint32_t k = c.index;
  if (k == c.count_capacity) [[unlikely]] {
    grow_counts();
  }
  c.counts[k] = static_cast<std::uint32_t>(end - begin);
  c.next = end;
  c.index = k + 1;
  return k;
}
inline std::uint32_t push_leaf() {
  Arg* const at = reserve(0);
  return commit(at, at);
}

template <class E>
struct is_expr : std::false_type {};

}  // namespace scalar_detail

// Anything an op on Vars accepts: a Var or an expression built from Vars.
template <class E>
concept VarExpr = scalar_detail::is_expr<std::remove_cvref_t<E>>::value;

// A scalar on the current thread's tape: its value, tape index and tape generation (16 bytes).
// Copying a Var copies the handle; the statement that defines it lives on the tape.
class Var {
 public:
  static constexpr std::size_t kArgs = 1;

  // A leaf (independent variable) on the current thread's tape.
  Var(double v);  // NOLINT(google-explicit-constructor): `Var x = 1.5;` and double operands
  Var() : Var(0.0) {}
  // Records the expression as one statement (implicit, so `Var y = x * x + 1.0;` and passing an
  // expression where a Var is expected both work).
  template <VarExpr E>
  requires(!std::is_same_v<std::remove_cvref_t<E>, Var>) Var(const E& e);  // NOLINT(google-explicit-constructor)

  double value() const { return value_; }
  // d(output)/d(this) after the last backward(); 0 for nodes that backward did not reach.
  // Throws ad::Error when the tape holding this Var has been reset since (or belongs to another thread).
  double grad() const;
  // Computes fresh gradients of this output: zeroes every adjoint, sets this one to 1 and sweeps the
  // tape in reverse from this statement down to the first (one loop, no recursion). Gradients of an
  // earlier backward are replaced, never accumulated. The tape is kept, so backward may be called again.
  void backward() const;

  std::uint32_t index() const { return index_; }  // position on the tape
  std::uint32_t epoch() const { return epoch_; }  // generation of the tape that recorded it

  template <VarExpr E>
  Var& operator+=(const E& y);
  template <VarExpr E>
  Var& operator-=(const E& y);
  template <VarExpr E>
  Var& operator*=(const E& y);
  template <VarExpr E>
  Var& operator/=(const E& y);
  Var& operator+=(double y);
  Var& operator-=(double y);
  Var& operator*=(double y);
  Var& operator/=(double y);

  // The expression interface: an argument of weight w.
  void check() const {
    if (epoch_ != scalar_detail::tl_cursor.epoch) [[unlikely]] {
      scalar_detail::throw_stale("an op");
    }
  }
  void collect(double w, scalar_detail::Arg*& out) const { *out++ = {w, index_, 0}; }

 private:
  double value_;
  std::uint32_t index_;
  std::uint32_t epoch_;
};
static_assert(sizeof(Var) == 16);

namespace scalar_detail {

template <>
struct is_expr<Var> : std::true_type {};

// f(a) with value v and partial d = df/da. The operand is checked (stale Vars throw) when the
// expression is built.
template <class A>
struct Unary {
  static constexpr std::size_t kArgs = A::kArgs;
  A a;
  double v, d;
  Unary(const A& a_, double v_, double d_) : a(a_), v(v_), d(d_) {
    if constexpr (std::is_same_v<A, Var>) a.check();
  }
  double value() const { return v; }
  void backward() const { Var(*this).backward(); }  // records it, then as Var::backward
  // A zero weight stops here: a node off the output's path never multiplies an infinite partial
  // below it into 0 * inf = NaN.
  void collect(double w, Arg*& out) const {
    if (w != 0.0) a.collect(w * d, out);
  }
};

// f(a, b) with value v and partials da, db.
template <class A, class B>
struct Binary {
  static constexpr std::size_t kArgs = A::kArgs + B::kArgs;
  A a;
  B b;
  double v, da, db;
  Binary(const A& a_, const B& b_, double v_, double da_, double db_) : a(a_), b(b_), v(v_), da(da_), db(db_) {
    if constexpr (std::is_same_v<A, Var>) a.check();
    if constexpr (std::is_same_v<B, Var>) b.check();
  }
  double value() const { return v; }
  void backward() const { Var(*this).backward(); }
  void collect(double w, Arg*& out) const {
    if (w == 0.0) return;
    a.collect(w * da, out);
    b.collect(w * db, out);
  }
};

template <class A>
struct is_expr<Unary<A>> : std::true_type {};
template <class A, class B>
struct is_expr<Binary<A, B>> : std::true_type {};

template <class E>
using Plain = std::remove_cvref_t<E>;

template <class A>
Unary<Plain<A>> unary(const A& a, double v, double d) {
  return {a, v, d};
}
template <class A, class B>
Binary<Plain<A>, Plain<B>> binary(const A& a, const B& b, double v, double da, double db) {
  return {a, b, v, da, db};
}

}  // namespace scalar_detail

// The current thread's scalar tape.
struct ScalarTape {
  // Drops every statement and starts a new generation: Vars recorded before become stale and throw
  // ad::Error when used. The memory is kept, so re-recording a tape of the same size allocates nothing.
  static void reset();
  // reset() that also returns all the tape's memory to the allocator.
  static void release_memory();
  static std::size_t size();  // statements (leaves and assignments) recorded since the last reset
  // Memory held by the tape, including chunks kept from a larger earlier recording; right after a
  // recording on a fresh (or released) tape, bytes() / size() is the memory per statement.
  static std::size_t bytes();
};

// RAII: resets the current thread's tape when the scope ends. Scopes do not nest: the end of an inner
// scope resets the whole tape, outer Vars included.
class ScalarTapeScope {
 public:
  ScalarTapeScope() = default;
  ~ScalarTapeScope() { ScalarTape::reset(); }
  ScalarTapeScope(const ScalarTapeScope&) = delete;
  ScalarTapeScope& operator=(const ScalarTapeScope&) = delete;
};

std::ostream& operator<<(std::ostream& os, const Var& x);  // Var(3.5, grad=1)

// ---- recording

inline Var::Var(double v) : value_(v), index_(scalar_detail::push_leaf()), epoch_(scalar_detail::tl_cursor.epoch) {}

// The arguments are written straight into the tape, then commit() records their count.
template <VarExpr E>
requires(!std::is_same_v<std::remove_cvref_t<E>, Var>) inline Var::Var(const E& e) : value_(e.value()) {
  static_assert(E::kArgs <= scalar_detail::kMaxArgs,
                "an expression of more than 4096 Vars: assign parts of it to Vars first");
  scalar_detail::Arg* const begin = scalar_detail::reserve(E::kArgs);
  scalar_detail::Arg* out = begin;
  e.collect(1.0, out);
  index_ = scalar_detail::commit(begin, out);
  epoch_ = scalar_detail::tl_cursor.epoch;
}

// ---- arithmetic. Each op computes its value and local partials; the statement's partials are their
// products along the expression, and backward is the generic tape sweep.

// d(x+y) = dx + dy
template <VarExpr A, VarExpr B>
auto operator+(const A& x, const B& y) {
  return scalar_detail::binary(x, y, x.value() + y.value(), 1.0, 1.0);
}
template <VarExpr A>
auto operator+(const A& x, double c) {
  return scalar_detail::unary(x, x.value() + c, 1.0);
}
template <VarExpr B>
auto operator+(double c, const B& y) {
  return scalar_detail::unary(y, c + y.value(), 1.0);
}

// d(x-y) = dx - dy
template <VarExpr A, VarExpr B>
auto operator-(const A& x, const B& y) {
  return scalar_detail::binary(x, y, x.value() - y.value(), 1.0, -1.0);
}
template <VarExpr A>
auto operator-(const A& x, double c) {
  return scalar_detail::unary(x, x.value() - c, 1.0);
}
template <VarExpr B>
auto operator-(double c, const B& y) {
  return scalar_detail::unary(y, c - y.value(), -1.0);
}

// d(x*y) = y dx + x dy
template <VarExpr A, VarExpr B>
auto operator*(const A& x, const B& y) {
  return scalar_detail::binary(x, y, x.value() * y.value(), y.value(), x.value());
}
template <VarExpr A>
auto operator*(const A& x, double c) {
  return scalar_detail::unary(x, x.value() * c, c);
}
template <VarExpr B>
auto operator*(double c, const B& y) {
  return scalar_detail::unary(y, c * y.value(), c);
}

// d(x/y) = dx / y - x dy / y^2   (as the tensor rule rounds it)
template <VarExpr A, VarExpr B>
auto operator/(const A& x, const B& y) {
  const double xv = x.value(), yv = y.value();
  return scalar_detail::binary(x, y, xv / yv, 1.0 / yv, -(xv / (yv * yv)));
}
template <VarExpr A>
auto operator/(const A& x, double c) {
  return scalar_detail::unary(x, x.value() / c, 1.0 / c);
}
template <VarExpr B>
auto operator/(double c, const B& y) {
  const double yv = y.value();
  return scalar_detail::unary(y, c / yv, -(c / (yv * yv)));
}

// d(-x) = -dx
template <VarExpr A>
auto operator-(const A& x) {
  return scalar_detail::unary(x, -x.value(), -1.0);
}
template <VarExpr A>
auto operator+(const A& x) {
  return x;
}

template <VarExpr E>
inline Var& Var::operator+=(const E& y) {
  return *this = *this + y;
}
template <VarExpr E>
inline Var& Var::operator-=(const E& y) {
  return *this = *this - y;
}
template <VarExpr E>
inline Var& Var::operator*=(const E& y) {
  return *this = *this * y;
}
template <VarExpr E>
inline Var& Var::operator/=(const E& y) {
  return *this = *this / y;
}
inline Var& Var::operator+=(double y) { return *this = *this + y; }
inline Var& Var::operator-=(double y) { return *this = *this - y; }
inline Var& Var::operator*=(double y) { return *this = *this * y; }
inline Var& Var::operator/=(double y) { return *this = *this / y; }

// ---- elementwise math

// d exp(x) = exp(x) dx
template <VarExpr A>
auto exp(const A& x) {
  const double e = std::exp(x.value());
  return scalar_detail::unary(x, e, e);
}

// d log(x) = dx / x
template <VarExpr A>
auto log(const A& x) {
  return scalar_detail::unary(x, std::log(x.value()), 1.0 / x.value());
}

// d sqrt(x) = dx / (2 sqrt(x))
template <VarExpr A>
auto sqrt(const A& x) {
  const double s = std::sqrt(x.value());
  return scalar_detail::unary(x, s, 1.0 / (2.0 * s));
}

// d x^p = p x^(p-1) dx   (0 for p = 0, also at x = 0)
template <VarExpr A>
auto pow(const A& x, double p) {
  return scalar_detail::unary(x, std::pow(x.value(), p), rules::pow_grad_base(x.value(), p));
}

// d x^y = y x^(y-1) dx + x^y log(x) dy   (each term 0 where its rule in scalar_rules.h says so)
template <VarExpr A, VarExpr B>
auto pow(const A& x, const B& y) {
  const double v = std::pow(x.value(), y.value());
  return scalar_detail::binary(x, y, v, rules::pow_grad_base(x.value(), y.value()),
                               rules::pow_grad_exponent(x.value(), y.value(), v));
}

// d c^y = c^y log(c) dy
template <VarExpr B>
auto pow(double c, const B& y) {
  const double v = std::pow(c, y.value());
  return scalar_detail::unary(y, v, rules::pow_grad_exponent(c, y.value(), v));
}

// d sin(x) = cos(x) dx
template <VarExpr A>
auto sin(const A& x) {
  return scalar_detail::unary(x, std::sin(x.value()), std::cos(x.value()));
}

// d cos(x) = -sin(x) dx
template <VarExpr A>
auto cos(const A& x) {
  return scalar_detail::unary(x, std::cos(x.value()), -std::sin(x.value()));
}

// d tanh(x) = (1 - tanh(x)^2) dx
template <VarExpr A>
auto tanh(const A& x) {
  const double t = std::tanh(x.value());
  return scalar_detail::unary(x, t, 1.0 - t * t);
}

// d sigmoid(x) = sigmoid(x) (1 - sigmoid(x)) dx   (computed as s * sigmoid(-x))
template <VarExpr A>
auto sigmoid(const A& x) {
  const double s = rules::sigmoid(x.value());
  return scalar_detail::unary(x, s, rules::sigmoid_grad(x.value(), s));
}

// d relu(x) = [x > 0] dx   (0 at x = 0)
template <VarExpr A>
auto relu(const A& x) {
  const bool on = x.value() > 0;
  return scalar_detail::unary(x, on ? x.value() : 0.0, on ? 1.0 : 0.0);
}

// d |x| = sign(x) dx   (0 at x = 0)
template <VarExpr A>
auto abs(const A& x) {
  return scalar_detail::unary(x, std::fabs(x.value()), rules::sign(x.value()));
}

// d step(x) = 0   (step(x) = 1 if x > 0 else 0)
template <VarExpr A>
auto step(const A& x) {
  return scalar_detail::unary(x, x.value() > 0 ? 1.0 : 0.0, 0.0);
}

}  // namespace ad
