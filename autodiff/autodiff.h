#pragma once
// The whole engine: tensors, ops, backward, gradcheck, DOT export, and the scalar fast path.
#include "adgraph/autodiff/dot.h"
#include "adgraph/autodiff/engine.h"
#include "adgraph/autodiff/file.h"
#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/autodiff/gradcheck.h"
#include "adgraph/autodiff/indexing.h"
#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/ops.h"
#include "adgraph/autodiff/random.h"
#include "adgraph/autodiff/scalar.h"
#include "adgraph/autodiff/tensor.h"
#include "adgraph/autodiff/threads.h"
