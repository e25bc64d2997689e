#pragma once
// The vectorized elementwise and summation kernels (simd.cpp), on Google Highway: compiled once
// per instruction set (AVX-512, AVX2 and a scalar baseline) in one binary, and picked at
// run time for the CPU found. Large contiguous spans are split among OpenMP threads (the pool
// oneDNN uses; ad::set_num_threads sets its size). Not part of the public API.
//
// Transcendental functions come from Highway's contrib/math (1-4 ulps from the correctly rounded
// value); a vector with any lane outside the range Highway documents (NaN, infinities, log of a
// non-positive number, sin/cos beyond 39000) is computed lane by lane with libm instead, so the
// special values are exactly libm's. Arithmetic (add ... minimum) is exact IEEE arithmetic and
// gives the same bits as a scalar loop. Results never depend on the thread count.
#include <cstdint>
#include <string>

namespace ad::kernels {

enum class Unary : std::uint8_t { neg, abs, sqrt, exp, log, sin, cos, tanh, sigmoid, relu };
// mul_grad/div_grad: x * y and x / y, but 0 where x is 0 (a zero gradient stays zero through
// inf or NaN partials). maximum/minimum: x > y ? x : y and x < y ? x : y.
enum class Binary : std::uint8_t { add, sub, mul, div, mul_grad, div_grad, maximum, minimum };

// out[j] = op(a[j * sa]) for j < n; out is contiguous, sa may be any stride (0 included).
template <class T>
void unary(Unary op, const T* a, std::int64_t sa, T* out, std::int64_t n);

// out[j] = op(a[j * sa], b[j * sb]) for j < n; a stride of 0 repeats one element. out may be a
// (sa = 1) for an in-place op.
template <class T>
void binary(Binary op, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* out, std::int64_t n);

// The backward of an activation in one pass: out = mul_grad(g, d) with d its derivative from the
// input x and the output o (sigmoid: o * sigmoid(-x); tanh: 1 - o * o; relu: [x > 0]), computed as
// the composite rules compute it. x, o and out are contiguous; g too, or one element for all
// when g_scalar.
enum class Act : std::uint8_t { sigmoid, tanh, relu };
template <class T>
void activation_grad(Act act, const T* g, bool g_scalar, const T* x, const T* o, T* out, std::int64_t n);

// The sum of n contiguous elements, accumulated in double in a fixed order (blocks of a fixed
// size, then the block sums in order), whatever the thread count.
template <class T>
double sum(const T* a, std::int64_t n);

// The largest of n contiguous elements on the calling thread; NaN when any is NaN, -inf when
// n is 0. Of a +0 and a -0, either may come out.
template <class T>
T max(const T* a, std::int64_t n);

// The instruction set the kernels run on: "AVX3" (AVX-512), "AVX2" or "SCALAR".
std::string simd_target();

// Applies the ADGRAPH_MAX_ISA cap once, before the first kernel of any Highway file runs (every
// kernel entry point calls it; a cheap check after the first time).
void apply_isa_cap();

// Caps the instruction set at `name` (one of the above, as the ADGRAPH_MAX_ISA environment
// variable does at start-up); an empty name lifts the cap. Throws an ad::Error for another name.
void limit_simd(const std::string& name);

}  // namespace ad::kernels
