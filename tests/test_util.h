#pragma once
// Helpers shared by the test files.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/ops.h"
#include "adgraph/autodiff/tensor.h"

namespace ad::testing {

// The message of the ad::Error thrown by f; fails the test if none is thrown.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ad::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an ad::Error";
  return {};
}

// A whole file's bytes ("" when it cannot be read).
inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Replaces a file's contents with `bytes`.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The names of a directory's entries, sorted (e.g. to check that no temporary file is left behind).
inline std::vector<std::string> dir_entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// 0, 1, 2, ... in Float64, row-major in the given shape.
inline ad::Tensor iota(const ad::Shape& s) {
  return ad::arange(0.0, static_cast<double>(ad::numel_of(s)), 1.0, ad::dtype(ad::kFloat64)).reshape(s);
}

// An initializer list of expected values as the vector to_vector() returns.
inline std::vector<double> values(std::initializer_list<double> x) { return x; }

}  // namespace ad::testing
