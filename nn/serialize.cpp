#include "adgraph/nn/serialize.h"

#include <map>

#include "adgraph/autodiff/safetensors.h"

namespace ad::nn {

void save(const Module& m, const std::string& path) { ad::save_safetensors(path, m.named_state(), {{"format", "pt"}}); }

void load(Module& m, const std::string& path) {
  ad::SafetensorsFile file = ad::load_safetensors(path);  // throws for missing or corrupt files

  const auto params = m.named_state();  // parameters and buffers
  std::map<std::string, const ad::Tensor*> loaded;
  for (const auto& [name, t] : file.tensors) loaded[name] = &t;

  auto describe = [](const ad::Tensor& t) { return ad::shape_str(t.shape()) + " " + ad::dtype_name(t.dtype()); };
  std::string missing, mismatched;
  std::map<std::string, bool> expected;
  for (const auto& [name, p] : params) {
    expected[name] = true;
    auto it = loaded.find(name);
    if (it == loaded.end()) {
      missing += "\n  " + name + " (expected " + describe(p) + ")";
      continue;
    }
    const ad::Tensor& f = *it->second;
    if (f.shape() != p.shape() || f.dtype() != p.dtype())
      mismatched += "\n  " + name + ": expected " + describe(p) + ", found " + describe(f);
  }
  std::string unexpected;
  for (const auto& [name, t] : file.tensors)
    if (!expected.count(name)) unexpected += "\n  " + name + " (" + describe(t) + ")";

  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::string msg = "ad::nn::load('" + path + "'): the file does not match the module; nothing was loaded";
    if (!missing.empty()) msg += "\nmissing keys (in the module, not in the file):" + missing;
    if (!unexpected.empty()) msg += "\nunexpected keys (in the file, not in the module):" + unexpected;
    if (!mismatched.empty()) msg += "\nshape/dtype mismatches:" + mismatched;
    throw ad::Error(msg);
  }

  // Everything validated: copy_ cannot fail now, so the module is either fully loaded or untouched.
  ad::NoGradGuard no_grad;
  for (const auto& [name, p] : params) {
    ad::Tensor target = p;
    target.copy_(*loaded.at(name));
  }
}

}  // namespace ad::nn
