#pragma once
// Every optimizer, schedule and training helper of the optim library.
#include "optim/adadelta.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/early_stopping.h"
#include "optim/lr_scheduler.h"
#include "optim/newton.h"
#include "optim/optimizer.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"
