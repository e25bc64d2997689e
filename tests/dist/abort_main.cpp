// run_or_abort: rank 1 throws while the others wait in a barrier; the whole job must end with a
// non-zero exit and "rank 1 of N: ..." on stderr, instead of hanging (tests/CMakeLists.txt checks).
#include "adgraph/dist/process_group.h"

int main(int argc, char** argv) {
  ad::dist::ProcessGroup& pg = ad::dist::init(argc, argv);
  return ad::dist::run_or_abort([&] {
    if (pg.rank() == 1) throw ad::Error("a failed load on this rank");
    pg.barrier();  // the other ranks would wait here forever
    return 0;
  });
}
