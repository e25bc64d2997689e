#pragma once
// Every optimizer, schedule and training helper of the optim library.
#include "adgraph/optim/adadelta.h"
#include "adgraph/optim/adagrad.h"
#include "adgraph/optim/adam.h"
#include "adgraph/optim/clip_grad.h"
#include "adgraph/optim/early_stopping.h"
#include "adgraph/optim/lr_scheduler.h"
#include "adgraph/optim/newton.h"
#include "adgraph/optim/optimizer.h"
#include "adgraph/optim/rmsprop.h"
#include "adgraph/optim/sgd.h"
