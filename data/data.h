#pragma once
// Everything of the data library: CSV loading, toy datasets and splits, mini-batch loading.
#include "adgraph/data/csv.h"
#include "adgraph/data/datasets.h"
#include "adgraph/data/loader.h"
