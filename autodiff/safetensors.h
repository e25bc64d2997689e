#pragma once
// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors): an
// 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, and
// "__metadata__": {string: string}}, then the raw little-endian data. Files move to and from
// PyTorch (safetensors.torch.save_file / load_file).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes atomically: a temporary file in the same directory, flushed, then renamed over `path`,
// so a crash never leaves a half-written file. Float32 -> "F32", Float64 -> "F64", Int64 -> "I64".
// Data is laid out contiguously in the order given; the header is compact JSON padded with spaces
// to a multiple of 8 bytes, "__metadata__" first and omitted when `metadata` is empty. Names must
// be unique, non-empty and not "__metadata__". On any error the old file is left as it was.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in file (data offset) order; fresh tensors that do not require grad
  std::map<std::string, std::string> metadata;
};

// Reads a whole file. A missing, truncated or corrupt file (bad header length, invalid JSON,
// unknown dtype, offsets out of range or overlapping, sizes that disagree with the shape)
// throws ad::Error naming the file and the problem. So do gaps or trailing bytes in the data,
// duplicate or empty names, and headers over 100 MB, as in the reference implementation.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace ad
