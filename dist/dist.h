#pragma once
// Everything of the dist library: the process group on Open MPI and the sharded optimizer.
#include "adgraph/dist/process_group.h"
#include "adgraph/dist/zero.h"
