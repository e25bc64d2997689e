#pragma once
// Threading of the CPU kernels. Not part of the public API (see threads.h).
namespace ad::kernels {

// Applies set_num_threads' count to the calling thread's OpenMP settings before a kernel runs:
// OpenMP keeps the count per thread, so a thread started by the user would otherwise use the
// default. Cheap when nothing changes (one comparison).
void use_num_threads();

}  // namespace ad::kernels
