// libFuzzer harness: ad::data::parse_csv (the parser behind read_csv) and split_label on
// arbitrary bytes. A table that parses must have the shape its columns promise.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/data/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const bool nonfinite : {false, true}) {
    std::istringstream in(text);
    try {
      const ad::data::Table t = ad::data::parse_csv(in, "<fuzz>", {.allow_nonfinite = nonfinite});
      if (t.values.dim() != 2 || t.values.size(1) != t.cols() || t.rows() < 1) std::abort();
      if (t.has_column("label")) (void)ad::data::split_label(t, "label");
    } catch (const ad::Error&) {
    }
  }
  return 0;
}
