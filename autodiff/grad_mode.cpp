#include "adgraph/autodiff/grad_mode.h"

namespace ad {
namespace {
thread_local bool t_grad_enabled = true;
thread_local bool t_anomaly = false;
}  // namespace

bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool on) { t_grad_enabled = on; }
bool AnomalyMode::is_enabled() { return t_anomaly; }
void AnomalyMode::set_enabled(bool on) { t_anomaly = on; }

}  // namespace ad
