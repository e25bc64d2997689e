#include "adgraph/autodiff/grad_mode.h"

namespace ad {
namespace {
thread_local bool t_grad_enabled = true;
thread_local bool t_anomaly = false;
thread_local bool t_draw = false;
}  // namespace

bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool on) { t_grad_enabled = on; }
bool AnomalyMode::is_enabled() { return t_anomaly; }
void AnomalyMode::set_enabled(bool on) { t_anomaly = on; }
bool DrawMode::is_enabled() { return t_draw; }
void DrawMode::set_enabled(bool on) { t_draw = on; }

}  // namespace ad
