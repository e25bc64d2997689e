// The thread-local scalar tape behind ad::Var: chunked statement arguments, counts, reset/epochs and
// the reverse sweep.
#include "adgraph/autodiff/scalar.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace ad {

using scalar_detail::Arg;
using scalar_detail::tl_cursor;

namespace {

// Arguments go into chunks of 2^16 Args (1 MiB): growing adds a chunk and never moves what is
// recorded, so a 10^7-statement tape costs no reallocation or copy. The counts, one per statement,
// are one array that doubles when full; the adjoints, one per statement, one array sized by
// backward(). All of it outlives reset(), so the next recording reuses memory already paged in.
constexpr std::size_t kChunkArgs = std::size_t{1} << 16;
constexpr std::uint32_t kMaxStatements = 0xFFFFFFF0u;  // indices are 32-bit

// Tape generations are unique across threads, so a Var from another thread's tape is stale here too.
std::atomic<std::uint32_t> g_next_epoch{1};

std::uint32_t new_epoch() {
  std::uint32_t e = 0;
  while (e == 0) e = g_next_epoch.fetch_add(1, std::memory_order_relaxed);  // 0 means "no tape"
  return e;
}

struct Chunk {
  std::unique_ptr<Arg[]> args = std::make_unique_for_overwrite<Arg[]>(kChunkArgs);
  Arg* end = nullptr;       // after its last argument, once the recording has moved on
  std::uint32_t first = 0;  // index of its first statement
};

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  ~Tape() { tl_cursor = {}; }

  void grow();
  void grow_counts();
  void reset();
  void release_memory();
  std::size_t bytes() const {
    return chunks_.size() * kChunkArgs * sizeof(Arg) + count_capacity_ * sizeof(std::uint32_t) +
           adjoints_.capacity() * sizeof(double) + chunks_.capacity() * sizeof(Chunk);
  }
  void backward(std::uint32_t out);
  double grad(std::uint32_t i) { return i < swept_ ? adjoints_[i] : 0.0; }

 private:
  void start_generation();
  void sweep(std::uint32_t out);
  Arg* end_of(std::size_t c) const { return c + 1 == in_use_ ? tl_cursor.next : chunks_[c].end; }

  std::vector<Chunk> chunks_;  // [0, in_use_) hold the current recording; the rest are kept for reuse
  std::unique_ptr<std::uint32_t[]> counts_;
  std::uint32_t count_capacity_ = 0;
  std::vector<double> adjoints_;
  std::size_t in_use_ = 0;
  std::uint32_t swept_ = 0;  // adjoints [0, swept_) hold the last backward's values; the rest read as 0
};

thread_local Tape tl_tape;

// Points the cursor at the first chunk under a new epoch and records statement 0, a leaf no Var
// holds, so that size() counts from 1.
void Tape::start_generation() {
  Arg* first = chunks_.front().args.get();
  chunks_.front().first = 0;
  tl_cursor = {first, first + kChunkArgs, counts_.get(), count_capacity_, 0, new_epoch()};
  scalar_detail::push_leaf();
  swept_ = 0;
}

static_assert(kChunkArgs > scalar_detail::kMaxArgs, "a chunk holds the largest statement");

void Tape::grow() {
  if (in_use_ == 0) {
    if (chunks_.empty()) chunks_.emplace_back();
    in_use_ = 1;
    start_generation();
    return;
  }
  chunks_[in_use_ - 1].end = tl_cursor.next;
  if (in_use_ == chunks_.size()) chunks_.emplace_back();
  Chunk& fresh = chunks_[in_use_++];
  fresh.first = tl_cursor.index;
  tl_cursor.next = fresh.args.get();
  tl_cursor.end = fresh.args.get() + kChunkArgs;
}

void Tape::grow_counts() {
  if (count_capacity_ >= kMaxStatements) {
    throw Error(
        "ad::Var: the scalar tape is full (2^32 statements); call ad::ScalarTape::reset() or use an "
        "ad::ScalarTapeScope per evaluation so the tape does not outgrow one computation");
  }
  const std::uint32_t grown = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(kMaxStatements, std::max<std::uint64_t>(kChunkArgs, 2ull * count_capacity_)));
  auto fresh = std::make_unique_for_overwrite<std::uint32_t[]>(grown);
  std::copy(counts_.get(), counts_.get() + tl_cursor.index, fresh.get());
  counts_ = std::move(fresh);
  count_capacity_ = grown;
  tl_cursor.counts = counts_.get();
  tl_cursor.count_capacity = grown;
}

// Keeps every chunk for the next recording: re-recording a tape of the same size touches no new memory.
void Tape::reset() {
  if (in_use_ == 0) return;
  in_use_ = 1;
  start_generation();
}

// The cursor's epoch 0 marks "no tape": every existing Var is stale and the next record starts afresh.
void Tape::release_memory() {
  chunks_.clear();
  chunks_.shrink_to_fit();
  counts_.reset();
  count_capacity_ = 0;
  adjoints_.clear();
  adjoints_.shrink_to_fit();
  in_use_ = 0;
  swept_ = 0;
  tl_cursor = {};
}

// For every statement k from `out` down to 0: adj[arg.index] += arg.w * adj[k] over its arguments,
// chunk after chunk, with plain loops. Statements with a zero adjoint are skipped: they are not on
// a path to `out`, and skipping keeps an infinite partial there (sqrt at 0, log at 0) from turning
// into 0 * inf = NaN in an argument's adjoint.
void Tape::sweep(std::uint32_t out) {
  const std::uint32_t* counts = counts_.get();
  double* adj = adjoints_.data();
  std::size_t c = in_use_ - 1;
  while (chunks_[c].first > out) --c;
  const Arg* p = end_of(c);
  std::uint32_t k = (c + 1 == in_use_ ? tl_cursor.index : chunks_[c + 1].first) - 1;
  for (; k > out; --k) p -= counts[k];  // the statements recorded after `out`
  // What statement k adds to the adjoint of statement k - 1 (the previous line of a chain, the
  // running sum of z += w * x) stays in a register: the next step reads it without waiting for a
  // store to reach memory and come back.
  double carry = 0.0;
  for (;;) {
    const std::uint32_t first = chunks_[c].first;
    for (;; --k) {
      const std::uint32_t n = counts[k];
      p -= n;
      const double g = adj[k] + carry;
      adj[k] = g;
      carry = 0.0;
      if (g != 0.0) {
        for (std::uint32_t i = 0; i < n; ++i) {
          if (p[i].index == k - 1)
            carry += p[i].w * g;
          else
            adj[p[i].index] += p[i].w * g;
        }
      }
      if (k == first) break;
    }
    if (c == 0) return;
    --c;
    --k;
    p = chunks_[c].end;
  }
}

void Tape::backward(std::uint32_t out) {
  adjoints_.assign(static_cast<std::size_t>(out) + 1, 0.0);
  adjoints_[out] = 1.0;
  sweep(out);
  swept_ = out + 1;
}

}  // namespace

namespace scalar_detail {

void grow_tape() { tl_tape.grow(); }
void grow_counts() { tl_tape.grow_counts(); }

void throw_stale(const char* what) {
  throw Error(std::string("ad::Var: ") + what +
              " on a Var whose scalar tape was reset after it was recorded (ad::ScalarTape::reset() or the end of "
              "an ad::ScalarTapeScope), or that was recorded on another thread; read gradients before the scope "
              "ends, and record new Vars after a reset on the thread that differentiates them");
}

}  // namespace scalar_detail

double Var::grad() const {
  if (epoch_ != tl_cursor.epoch) scalar_detail::throw_stale("grad()");
  return tl_tape.grad(index_);
}

void Var::backward() const {
  if (epoch_ != tl_cursor.epoch) scalar_detail::throw_stale("backward()");
  tl_tape.backward(index_);
}

void ScalarTape::reset() { tl_tape.reset(); }

void ScalarTape::release_memory() { tl_tape.release_memory(); }

std::size_t ScalarTape::size() { return tl_cursor.index == 0 ? 0 : tl_cursor.index - 1; }

std::size_t ScalarTape::bytes() { return tl_tape.bytes(); }

std::ostream& operator<<(std::ostream& os, const Var& x) {
  os << "Var(" << x.value() << ", grad=";
  if (x.epoch() == tl_cursor.epoch) {
    os << x.grad();
  } else {
    os << "<stale>";
  }
  return os << ')';
}

}  // namespace ad
