// libFuzzer harness: ad::load_safetensors on arbitrary bytes. The loader takes a path, so each
// input is written to one file per process (in $TMPDIR) first. What a successful load returns
// must be self-consistent: each tensor's bytes are those the header promised.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/file.h"
#include "adgraph/autodiff/safetensors.h"

namespace {
std::string input_path() {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/adgraph_fuzz_safetensors_" + std::to_string(::getpid());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = input_path();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  try {
    const ad::SafetensorsFile file = ad::load_safetensors(path);
    std::uint64_t bytes = 0;
    for (const auto& [name, t] : file.tensors) {
      if (name.empty()) std::abort();
      bytes += static_cast<std::uint64_t>(t.numel()) * ad::dtype_size(t.dtype());
    }
    if (bytes > size) std::abort();  // tensors cannot hold more data than the file had
  } catch (const ad::Error&) {
    // a clear refusal is the expected outcome for most inputs
  }
  return 0;
}
