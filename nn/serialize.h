#pragma once
// Saving and loading a module's parameters as a safetensors file, the format of PyTorch's
// safetensors.torch.save_file(model.state_dict()): one tensor per named_state() entry, parameters
// then buffers ("fc1.weight", "fc1.bias", "bn.running_mean", ...), and the metadata {"format": "pt"}.
#include <string>

#include "adgraph/autodiff/safetensors.h"
#include "adgraph/nn/module.h"

namespace ad::nn {

// Writes m.named_state() to `path` atomically (see ad::save_safetensors). opt.floats_as stores
// the floating tensors as F16 or BF16 (half the size of Float32; values rounded to nearest even,
// and a value past the format's range an error unless opt.allow_overflow).
void save(const Module& m, const std::string& path, const ad::SafetensorsSaveOptions& opt = {});

struct LoadOptions {
  // A floating tensor stored in another dtype than the module's (an F16 or BF16 file into a
  // Float32 model, F64 into Float32, F32 into Float64) is an error by default, naming each
  // tensor and both dtypes: a silent conversion would hide that the file is not the model's.
  // true converts it on the way in: F16, BF16 and F32 into Float32 or Float64 are exact, F64
  // into Float32 rounds to nearest. Int64 and Bool entries must match exactly either way.
  bool convert_dtype = false;
};

// Reads `path` and copies its tensors into m's parameters and buffers in place, so every handle to them
// (optimizers included) sees the loaded values. The file must match the module exactly: the
// same names, shapes and dtypes (dtypes up to opt.convert_dtype). Otherwise, or when the file is
// missing or corrupt, throws ad::Error listing the problems and their fixes, and the module is
// left exactly as it was.
void load(Module& m, const std::string& path, const LoadOptions& opt = {});

}  // namespace ad::nn
