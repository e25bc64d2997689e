#pragma once

namespace ad::optim {

// Whether a monitored metric improves by going down (a loss) or up (an accuracy).
enum class Mode { Min, Max };

}  // namespace ad::optim
