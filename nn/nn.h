#pragma once
// Everything of the nn library: modules, layers, activations, losses, regularizers, init, save/load.
#include "adgraph/nn/activation.h"
#include "adgraph/nn/conv.h"
#include "adgraph/nn/dropout.h"
#include "adgraph/nn/init.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/mlp.h"
#include "adgraph/nn/pooling.h"
#include "adgraph/nn/module.h"
#include "adgraph/nn/regularizer.h"
#include "adgraph/nn/sequential.h"
#include "adgraph/nn/serialize.h"
