#pragma once
// Everything of the data library: CSV loading, toy datasets and splits, mini-batch loading.
#include "data/csv.h"
#include "data/datasets.h"
#include "data/loader.h"
