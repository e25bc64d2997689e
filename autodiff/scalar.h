#pragma once
// The fast scalar path: `ad::Var`, a double recorded on a thread-local tape (Stan Math / Adept style).
//
// Every op appends one fixed-size entry to the current thread's tape: the indices of its (at most two)
// operands and the local partial derivatives, computed during the forward pass. backward() is then a
// single reverse loop over the tape: no graph objects, no heap allocation per node, no virtual calls.
//
//   ad::ScalarTapeScope scope;            // the tape is reset when the scope ends
//   ad::Var x = 1.5, y = 2.0;
//   ad::Var f = ad::sin(x) * y + ad::exp(x / y);
//   f.backward();                         // x.grad(), y.grad() now hold df/dx, df/dy
//
// Each thread has its own tape, so threads build and differentiate independently. A Var is only
// valid on the thread that created it and until that thread's tape is reset.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iosfwd>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/scalar_rules.h"

namespace ad {

class Var;

namespace scalar_detail {

// One tape entry: node = f(a, b) with partials da = df/da, db = df/db. Leaves and one-operand ops
// point their unused operands at the sink entry 0 with a zero partial, so backward never branches on
// the operand count.
struct TapeEntry {
  std::uint32_t a;
  std::uint32_t b;
  double da;
  double db;
};

// The hot part of the current thread's tape: where the next entry goes. constinit, so reaching it
// costs a plain thread-local access (no lazy-initialisation guard). The chunks it points into are
// owned by the tape in scalar.cpp.
struct TapeCursor {
  TapeEntry* next = nullptr;
  TapeEntry* end = nullptr;
  std::uint32_t index = 0;  // tape index of *next
  std::uint32_t epoch = 0;  // generation of the tape; 0 until the thread first records
};
inline constinit thread_local TapeCursor tl_cursor{};

void grow_tape();  // starts a new chunk (and the tape itself on first use)
[[noreturn]] void throw_stale(const char* what);

// Appends an entry and returns its index.
inline std::uint32_t push(const TapeEntry& e) {
  TapeCursor& c = tl_cursor;
  if (c.next == c.end) [[unlikely]] {
    grow_tape();
  }
  *c.next++ = e;
  return c.index++;
}

inline constexpr std::uint32_t kSink = 0;

Var record(double value, const Var& x, double dx);
Var record(double value, const Var& x, double dx, const Var& y, double dy);

}  // namespace scalar_detail

// A scalar on the current thread's tape: its value, tape index and tape generation (16 bytes).
// Copying a Var copies the handle; the node itself lives on the tape.
class Var {
 public:
  // A leaf (independent variable) on the current thread's tape.
  Var(double v);  // NOLINT(google-explicit-constructor): `Var x = 1.5;` and double operands
  Var() : Var(0.0) {}

  double value() const { return value_; }
  // d(output)/d(this) after the last backward(); 0 for nodes that backward did not reach.
  // Throws ad::Error when the tape holding this Var has been reset since (or belongs to another thread).
  double grad() const;
  // Computes fresh gradients of this output: zeroes every adjoint, sets this one to 1 and sweeps the
  // tape in reverse from this node down to the first (one loop, no recursion). Gradients of an earlier
  // backward are replaced, never accumulated. The tape is kept, so backward may be called again.
  void backward() const;

  std::uint32_t index() const { return index_; }  // position on the tape
  std::uint32_t epoch() const { return epoch_; }  // generation of the tape that recorded it

  Var& operator+=(const Var& y);
  Var& operator-=(const Var& y);
  Var& operator*=(const Var& y);
  Var& operator/=(const Var& y);
  Var& operator+=(double y);
  Var& operator-=(double y);
  Var& operator*=(double y);
  Var& operator/=(double y);

 private:
  Var(double value, std::uint32_t index, std::uint32_t epoch) : value_(value), index_(index), epoch_(epoch) {}
  friend Var scalar_detail::record(double, const Var&, double);
  friend Var scalar_detail::record(double, const Var&, double, const Var&, double);

  double value_;
  std::uint32_t index_;
  std::uint32_t epoch_;
};
static_assert(sizeof(Var) == 16);

// The current thread's scalar tape.
struct ScalarTape {
  // Drops every node and starts a new generation: Vars recorded before become stale and throw ad::Error
  // when used. The memory is kept, so re-recording a tape of the same size allocates nothing.
  static void reset();
  // reset() that also returns all the tape's memory to the allocator.
  static void release_memory();
  static std::size_t size();  // nodes recorded since the last reset
  // Memory held by the tape, including chunks kept from a larger earlier recording; right after a
  // recording on a fresh (or released) tape, bytes() / size() is the memory per node.
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

inline Var::Var(double v)
    : value_(v),
      index_(scalar_detail::push({scalar_detail::kSink, scalar_detail::kSink, 0.0, 0.0})),
      epoch_(scalar_detail::tl_cursor.epoch) {}

namespace scalar_detail {

inline Var record(double value, const Var& x, double dx) {
  if (x.epoch_ != tl_cursor.epoch) [[unlikely]] {
    throw_stale("an op");
  }
  const std::uint32_t i = push({x.index_, kSink, dx, 0.0});
  return Var(value, i, tl_cursor.epoch);
}

inline Var record(double value, const Var& x, double dx, const Var& y, double dy) {
  if (x.epoch_ != tl_cursor.epoch || y.epoch_ != tl_cursor.epoch) [[unlikely]] {
    throw_stale("an op");
  }
  const std::uint32_t i = push({x.index_, y.index_, dx, dy});
  return Var(value, i, tl_cursor.epoch);
}

}  // namespace scalar_detail

// ---- arithmetic. Each op computes its value and local partials; backward is the generic tape sweep.

// d(x+y) = dx + dy
inline Var operator+(const Var& x, const Var& y) {
  return scalar_detail::record(x.value() + y.value(), x, 1.0, y, 1.0);
}
inline Var operator+(const Var& x, double c) { return scalar_detail::record(x.value() + c, x, 1.0); }
inline Var operator+(double c, const Var& y) { return scalar_detail::record(c + y.value(), y, 1.0); }

// d(x-y) = dx - dy
inline Var operator-(const Var& x, const Var& y) {
  return scalar_detail::record(x.value() - y.value(), x, 1.0, y, -1.0);
}
inline Var operator-(const Var& x, double c) { return scalar_detail::record(x.value() - c, x, 1.0); }
inline Var operator-(double c, const Var& y) { return scalar_detail::record(c - y.value(), y, -1.0); }

// d(x*y) = y dx + x dy
inline Var operator*(const Var& x, const Var& y) {
  return scalar_detail::record(x.value() * y.value(), x, y.value(), y, x.value());
}
inline Var operator*(const Var& x, double c) { return scalar_detail::record(x.value() * c, x, c); }
inline Var operator*(double c, const Var& y) { return scalar_detail::record(c * y.value(), y, c); }

// d(x/y) = dx / y - x dy / y^2   (as the tensor rule rounds it)
inline Var operator/(const Var& x, const Var& y) {
  return scalar_detail::record(x.value() / y.value(), x, 1.0 / y.value(), y, -(x.value() / (y.value() * y.value())));
}
inline Var operator/(const Var& x, double c) { return scalar_detail::record(x.value() / c, x, 1.0 / c); }
inline Var operator/(double c, const Var& y) {
  return scalar_detail::record(c / y.value(), y, -(c / (y.value() * y.value())));
}

// d(-x) = -dx
inline Var operator-(const Var& x) { return scalar_detail::record(-x.value(), x, -1.0); }
inline Var operator+(const Var& x) { return x; }

inline Var& Var::operator+=(const Var& y) { return *this = *this + y; }
inline Var& Var::operator-=(const Var& y) { return *this = *this - y; }
inline Var& Var::operator*=(const Var& y) { return *this = *this * y; }
inline Var& Var::operator/=(const Var& y) { return *this = *this / y; }
inline Var& Var::operator+=(double y) { return *this = *this + y; }
inline Var& Var::operator-=(double y) { return *this = *this - y; }
inline Var& Var::operator*=(double y) { return *this = *this * y; }
inline Var& Var::operator/=(double y) { return *this = *this / y; }

// ---- elementwise math

// d exp(x) = exp(x) dx
inline Var exp(const Var& x) {
  const double e = std::exp(x.value());
  return scalar_detail::record(e, x, e);
}

// d log(x) = dx / x
inline Var log(const Var& x) { return scalar_detail::record(std::log(x.value()), x, 1.0 / x.value()); }

// d sqrt(x) = dx / (2 sqrt(x))
inline Var sqrt(const Var& x) {
  const double s = std::sqrt(x.value());
  return scalar_detail::record(s, x, 1.0 / (2.0 * s));
}

// d x^p = p x^(p-1) dx   (0 for p = 0, also at x = 0)
inline Var pow(const Var& x, double p) {
  return scalar_detail::record(std::pow(x.value(), p), x, rules::pow_grad_base(x.value(), p));
}

// d x^y = y x^(y-1) dx + x^y log(x) dy   (each term 0 where its rule in scalar_rules.h says so)
inline Var pow(const Var& x, const Var& y) {
  const double v = std::pow(x.value(), y.value());
  return scalar_detail::record(v, x, rules::pow_grad_base(x.value(), y.value()), y,
                               rules::pow_grad_exponent(x.value(), y.value(), v));
}

// d c^y = c^y log(c) dy
inline Var pow(double c, const Var& y) {
  const double v = std::pow(c, y.value());
  return scalar_detail::record(v, y, rules::pow_grad_exponent(c, y.value(), v));
}

// d sin(x) = cos(x) dx
inline Var sin(const Var& x) { return scalar_detail::record(std::sin(x.value()), x, std::cos(x.value())); }

// d cos(x) = -sin(x) dx
inline Var cos(const Var& x) { return scalar_detail::record(std::cos(x.value()), x, -std::sin(x.value())); }

// d tanh(x) = (1 - tanh(x)^2) dx
inline Var tanh(const Var& x) {
  const double t = std::tanh(x.value());
  return scalar_detail::record(t, x, 1.0 - t * t);
}

// d sigmoid(x) = sigmoid(x) (1 - sigmoid(x)) dx   (computed as s * sigmoid(-x))
inline Var sigmoid(const Var& x) {
  const double s = rules::sigmoid(x.value());
  return scalar_detail::record(s, x, rules::sigmoid_grad(x.value(), s));
}

// d relu(x) = [x > 0] dx   (0 at x = 0)
inline Var relu(const Var& x) {
  const bool on = x.value() > 0;
  return scalar_detail::record(on ? x.value() : 0.0, x, on ? 1.0 : 0.0);
}

// d |x| = sign(x) dx   (0 at x = 0)
inline Var abs(const Var& x) { return scalar_detail::record(std::fabs(x.value()), x, rules::sign(x.value())); }

// d step(x) = 0   (step(x) = 1 if x > 0 else 0)
inline Var step(const Var& x) { return scalar_detail::record(x.value() > 0 ? 1.0 : 0.0, x, 0.0); }

}  // namespace ad
