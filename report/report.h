#pragma once
// Everything of the report library: the progress line of a training loop (Progress), the
// per-epoch record of its metrics (History), written as CSV and drawn as PNG/SVG, and atomic
// file replacement (replace_file).
#include "adgraph/report/atomic_file.h"
#include "adgraph/report/history.h"
#include "adgraph/report/metrics.h"
#include "adgraph/report/progress.h"
