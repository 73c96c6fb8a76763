/* The modelled bus (bus_backend.h): no broker. The mock core and registry
 * answer the library's calls (a peer that is not there waits out
 * timeout.default, as on a node), RPC faults are injected here, and each
 * published frame reaches the mock core (item states, dropped RAW/ACT while
 * inactive) and the run's sink (printing, recording, routing back to the
 * library). */
#ifndef HARNESS_BUS_MODEL_H
#define HARNESS_BUS_MODEL_H

#include "bus.h"
#include "bus_backend.h"

/* a backend over cfg's core, faults, rpc_timeout and frame sink; cfg must
 * outlive it */
void harness_bus_model_backend(struct harness_bus_backend *backend, const struct harness_bus_config *cfg);

#endif
