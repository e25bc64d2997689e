#pragma once
// Everything of the report library: the progress line of a training loop (Progress) and the
// per-epoch record of its metrics (History), written as CSV and drawn as PNG/SVG.
#include "adgraph/report/history.h"
#include "adgraph/report/metrics.h"
#include "adgraph/report/progress.h"
