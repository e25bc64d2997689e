#pragma once
// All of adgraph: the engine (ad::), layers (ad::nn), optimizers (ad::optim), data (ad::data),
// pictures (ad::plot), training feedback (ad::report), checkpoints of training runs (ad::train)
// and collectives across processes on Open MPI (ad::dist). Link adgraph::adgraph. Each part has
// its own umbrella header as well: adgraph/autodiff/autodiff.h, adgraph/nn/nn.h,
// adgraph/optim/optim.h, adgraph/data/data.h, adgraph/plot/plot.h, adgraph/report/report.h,
// adgraph/train/train.h, adgraph/dist/dist.h.
#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/data.h"
#include "adgraph/dist/dist.h"
#include "adgraph/nn/nn.h"
#include "adgraph/optim/optim.h"
#include "adgraph/plot/plot.h"
#include "adgraph/report/report.h"
#include "adgraph/train/train.h"
