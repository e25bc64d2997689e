#pragma once
// The consumer's own nn/module.h: adgraph's headers must never pick this one up.
#define CONSUMER_NN_MODULE_H 1
namespace consumer {
inline int own_nn_module() { return 1; }
}  // namespace consumer
