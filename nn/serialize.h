#pragma once
// Saving and loading a module's parameters as a safetensors file, the format of PyTorch's
// safetensors.torch.save_file(model.state_dict()): one tensor per named_state() entry, parameters
// then buffers ("fc1.weight", "fc1.bias", "bn.running_mean", ...), and the metadata {"format": "pt"}.
#include <string>

#include "adgraph/nn/module.h"

namespace ad::nn {

// Writes m.named_state() to `path` atomically (see ad::save_safetensors).
void save(const Module& m, const std::string& path);

// Reads `path` and copies its tensors into m's parameters and buffers in place, so every handle to them
// (optimizers included) sees the loaded values. The file must match the module exactly: the
// same names, shapes and dtypes. Otherwise, or when the file is missing or corrupt, throws
// ad::Error listing the problems, and the module is left exactly as it was.
void load(Module& m, const std::string& path);

}  // namespace ad::nn
