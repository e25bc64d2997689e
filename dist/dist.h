#pragma once
// Everything of the dist library: the process group on Open MPI, DistributedDataParallel, the
// distributed sampler, SyncBatchNorm and the sharded optimizer.
#include "adgraph/dist/checkpoint.h"
#include "adgraph/dist/ddp.h"
#include "adgraph/dist/process_group.h"
#include "adgraph/dist/sampler.h"
#include "adgraph/dist/sync_batchnorm.h"
#include "adgraph/dist/zero.h"
