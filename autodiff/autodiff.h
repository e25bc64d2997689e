#pragma once
// The whole engine: tensors, ops, backward, gradcheck, DOT export, and the scalar fast path.
#include "autodiff/dot.h"
#include "autodiff/engine.h"
#include "autodiff/grad_mode.h"
#include "autodiff/gradcheck.h"
#include "autodiff/node.h"
#include "autodiff/ops.h"
#include "autodiff/random.h"
#include "autodiff/scalar.h"
#include "autodiff/tensor.h"
