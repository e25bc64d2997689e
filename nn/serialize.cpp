#include "adgraph/nn/serialize.h"

#include <map>

namespace ad::nn {

void save(const Module& m, const std::string& path, const ad::SafetensorsSaveOptions& opt) {
  ad::save_safetensors(path, m.named_state(), {{"format", "pt"}}, opt);
}

void load(Module& m, const std::string& path, const LoadOptions& opt) {
  ad::SafetensorsFile file = ad::load_safetensors(path);  // throws for missing or corrupt files

  const auto params = m.named_state();  // parameters and buffers
  std::map<std::string, const ad::Tensor*> loaded;
  for (const auto& [name, t] : file.tensors) loaded[name] = &t;

  // A file tensor by the dtype the file stores ("F16", "BF16"; the engine's names otherwise).
  auto stored = [&](const std::string& name, const ad::Tensor& t) -> std::string {
    const auto it = file.stored_dtypes.find(name);
    if (it != file.stored_dtypes.end() && (it->second == "F16" || it->second == "BF16")) return it->second;
    return ad::dtype_name(t.dtype());
  };
  auto describe = [](const ad::Tensor& t) { return ad::shape_str(t.shape()) + " " + ad::dtype_name(t.dtype()); };
  std::string missing, mismatched, convertible, inconvertible;
  std::map<std::string, bool> expected;
  for (const auto& [name, p] : params) {
    expected[name] = true;
    auto it = loaded.find(name);
    if (it == loaded.end()) {
      missing += "\n  " + name + " (expected " + describe(p) + ")";
      continue;
    }
    const ad::Tensor& f = *it->second;
    const std::string f_dtype = stored(name, f);
    if (f.shape() != p.shape()) {
      mismatched += "\n  " + name + ": expected " + describe(p) + ", found " + ad::shape_str(f.shape()) + " " + f_dtype;
    } else if (f_dtype != ad::dtype_name(p.dtype())) {
      const bool floats = ad::is_floating(f.dtype()) && ad::is_floating(p.dtype());
      if (floats && opt.convert_dtype) continue;
      (floats ? convertible : inconvertible) += "\n  " + name + ": the file stores " + f_dtype + ", the module's " +
                                                ad::shape_str(p.shape()) + " tensor is " + ad::dtype_name(p.dtype());
    }
  }
  std::string unexpected;
  for (const auto& [name, t] : file.tensors)
    if (!expected.count(name))
      unexpected += "\n  " + name + " (" + ad::shape_str(t.shape()) + " " + stored(name, t) + ")";

  if (!missing.empty() || !mismatched.empty() || !unexpected.empty() || !convertible.empty() ||
      !inconvertible.empty()) {
    std::string msg = "ad::nn::load('" + path + "'): the file does not match the module; nothing was loaded";
    if (!missing.empty()) msg += "\nmissing keys (in the module, not in the file):" + missing;
    if (!unexpected.empty()) msg += "\nunexpected keys (in the file, not in the module):" + unexpected;
    if (!mismatched.empty()) msg += "\nshape mismatches:" + mismatched;
    if (!convertible.empty())
      msg +=
          "\ndtype mismatches (to convert them while loading, pass ad::nn::LoadOptions{.convert_dtype = true}: "
          "F16, BF16 and F32 are exact in Float32 and Float64, F64 into Float32 rounds; or convert the "
          "module to the file's dtype first with to()):" +
          convertible;
    if (!inconvertible.empty())
      msg += "\ndtype mismatches between integer or Bool and floating tensors (never converted):" + inconvertible;
    throw ad::Error(msg);
  }

  // Everything validated: copy_ cannot fail now (it converts between floating dtypes), so the
  // module is either fully loaded or untouched.
  ad::NoGradGuard no_grad;
  for (const auto& [name, p] : params) {
    ad::Tensor target = p;
    target.copy_(*loaded.at(name));
  }
}

}  // namespace ad::nn
