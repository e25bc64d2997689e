// The thread-local scalar tape behind ad::Var: chunked storage, reset/epochs and the reverse sweep.
#include "adgraph/autodiff/scalar.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace ad {

using scalar_detail::TapeEntry;
using scalar_detail::tl_cursor;

namespace {

// 2^16 entries per chunk: 1.5 MiB of entries + 0.5 MiB of adjoints. Growing adds a chunk and never
// moves recorded entries, so a 10^7-node tape costs no reallocation or copy. Chunks outlive reset() so
// that the next recording reuses memory that is already paged in.
constexpr unsigned kChunkBits = 16;
constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
constexpr std::uint32_t kOffsetMask = kChunkSize - 1;
constexpr std::size_t kMaxChunks = (std::size_t{1} << 32) / kChunkSize;  // indices are 32-bit
constexpr std::size_t kChunkBytes = kChunkSize * (sizeof(TapeEntry) + sizeof(double));

// Tape generations are unique across threads, so a Var from another thread's tape is stale here too.
std::atomic<std::uint32_t> g_next_epoch{1};

std::uint32_t new_epoch() {
  std::uint32_t e = 0;
  while (e == 0) e = g_next_epoch.fetch_add(1, std::memory_order_relaxed);  // 0 means "no tape"
  return e;
}

// Entries and, in a parallel array, their adjoints. Both uninitialised until written.
struct Chunk {
  std::unique_ptr<TapeEntry[]> entries = std::make_unique_for_overwrite<TapeEntry[]>(kChunkSize);
  std::unique_ptr<double[]> adjoints = std::make_unique_for_overwrite<double[]>(kChunkSize);
};

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  ~Tape() { tl_cursor = {}; }

  void grow();
  void reset();
  void release_memory();
  std::size_t bytes() const { return chunks_.size() * kChunkBytes + chunks_.capacity() * sizeof(Chunk); }
  void backward(std::uint32_t out);
  double grad(std::uint32_t i) { return i < swept_ ? adjoint(i) : 0.0; }

 private:
  TapeEntry& entry(std::uint32_t i) { return chunks_[i >> kChunkBits].entries[i & kOffsetMask]; }
  double& adjoint(std::uint32_t i) { return chunks_[i >> kChunkBits].adjoints[i & kOffsetMask]; }
  void start_generation();
  void zero_adjoints(std::uint32_t count);
  void sweep(std::uint32_t out);

  std::vector<Chunk> chunks_;  // [0, in_use_) hold the current recording; the rest are kept for reuse
  std::size_t in_use_ = 0;
  std::uint32_t swept_ = 0;  // adjoints [0, swept_) hold the last backward's values; the rest read as 0
};

thread_local Tape tl_tape;

// Points the cursor at the first chunk under a new epoch and records the sink entry 0, which absorbs
// the zero-weighted second operand of leaves and one-operand ops.
void Tape::start_generation() {
  TapeEntry* first = chunks_.front().entries.get();
  tl_cursor = {first, first + kChunkSize, 0, new_epoch()};
  scalar_detail::push({scalar_detail::kSink, scalar_detail::kSink, 0.0, 0.0});
  swept_ = 0;
}

void Tape::grow() {
  if (in_use_ == 0) {
    if (chunks_.empty()) chunks_.emplace_back();
    in_use_ = 1;
    start_generation();
    return;
  }
  if (in_use_ == kMaxChunks) {
    throw Error(
        "ad::Var: the scalar tape is full (2^32 nodes); call ad::ScalarTape::reset() or use an "
        "ad::ScalarTapeScope per evaluation so the tape does not outgrow one computation");
  }
  if (in_use_ == chunks_.size()) chunks_.emplace_back();
  TapeEntry* fresh = chunks_[in_use_++].entries.get();
  tl_cursor.next = fresh;
  tl_cursor.end = fresh + kChunkSize;
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
  in_use_ = 0;
  swept_ = 0;
  tl_cursor = {};
}

void Tape::zero_adjoints(std::uint32_t count) {
  for (std::size_t c = 0; c * kChunkSize < count; ++c) {
    double* adj = chunks_[c].adjoints.get();
    std::fill(adj, adj + std::min<std::size_t>(kChunkSize, count - c * kChunkSize), 0.0);
  }
}

// adj[a] += da * adj[k] and adj[b] += db * adj[k] for every node k from `out` down to 1. Nodes with a
// zero adjoint are skipped: they are not on a path to `out`, and skipping keeps an infinite partial
// there (sqrt at 0, log at 0) from turning into 0 * inf = NaN in an operand's adjoint.
void Tape::sweep(std::uint32_t out) {
  for (std::uint32_t k = out; k > 0; --k) {
    const double g = adjoint(k);
    if (g == 0.0) continue;
    const TapeEntry& e = entry(k);
    adjoint(e.a) += e.da * g;
    adjoint(e.b) += e.db * g;
  }
}

void Tape::backward(std::uint32_t out) {
  zero_adjoints(out + 1);
  adjoint(out) = 1.0;
  sweep(out);
  swept_ = out + 1;
}

}  // namespace

namespace scalar_detail {

void grow_tape() { tl_tape.grow(); }

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
