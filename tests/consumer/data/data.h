#pragma once
// The consumer's own data/data.h: adgraph's headers must never pick this one up.
#define CONSUMER_DATA_H 1
