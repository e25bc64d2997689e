// A rank that fails must end the whole job (tests/CMakeLists.txt checks the exit code and the
// message), instead of leaving the other ranks waiting in a collective forever:
//   abort_main throw   rank 1 throws inside run_or_abort while the others wait in a barrier:
//                      "rank 1 of N: a failed load on this rank";
//   abort_main hang    rank 1 never reaches the barrier (it sleeps); the others give up after
//                      their 1 s timeout: "rank 0 of N: dist::barrier: rank 0 waited 1 s ...".
#include <chrono>
#include <string>
#include <thread>

#include "adgraph/dist/process_group.h"

int main(int argc, char** argv) {
  ad::dist::ProcessGroup& pg = ad::dist::init(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "throw";
  return ad::dist::run_or_abort([&] {
    if (mode == "hang") {
      pg.set_timeout(1.0);
      if (pg.rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(60));  // stuck
    } else if (pg.rank() == 1) {
      throw ad::Error("a failed load on this rank");
    }
    pg.barrier();  // the other ranks would wait here forever
    return 0;
  });
}
