#pragma once
// Everything of the train library: checkpoints of whole training runs.
#include "adgraph/train/checkpoint.h"
