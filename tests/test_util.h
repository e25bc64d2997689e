#pragma once
// Helpers shared by the test files.
#include <gtest/gtest.h>

#include <string>

#include "autodiff/dtype.h"

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

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace ad::testing
