/* The launcher's op function for bench: one context per library, so two
 * libraries in one process each get their own (the op function has no
 * context argument: each context has its own trampoline). It is made to
 * cost next to nothing, so that a bench measures the library: publishes
 * are counted and dropped (ACT/... payloads are glanced at for terminal
 * statuses), logs below the print level are counted only, counters are
 * per thread (no shared cache line between bench threads). RPC calls of
 * the library (eva.core test, the registry) go to a mock core of its own. */
#ifndef HARNESS_BENCH_BUS_H
#define HARNESS_BENCH_BUS_H

#include <stdatomic.h>
#include <stdint.h>

#include "eva_ffi.h"
#include "mock_core.h"
#include "rpc_result.h"

#define BENCH_BUS_MAX 2

struct bench_bus_counts {
    unsigned long ops, publish, act, act_terminal, subscribe, rpc_calls, logs, invalid;
};

struct bench_bus_slot; /* per-thread counters of one bus */

struct bench_bus {
    int index;
    char label[8];
    struct harness_mock_core core;
    enum harness_result_mode result_mode;
    int print_level;          /* library logs at or above it go to stderr */
    atomic_int connected;     /* bus ops work (from svc_prepare on) */
    atomic_int active;        /* IS_ACTIVE */
    atomic_int terminate_asked;
    atomic_ulong printed;     /* log lines shown so far */
    atomic_uintptr_t slots;   /* struct bench_bus_slot list, pushed lock-free */
};

/* index < BENCH_BUS_MAX; the core must be initialised by the caller */
void bench_bus_init(struct bench_bus *bus, int index, const char *label, int print_level,
                    enum harness_result_mode mode);
/* the op function to hand this library's eva_svc_set_op_fn */
eva_ffi_op_fn bench_bus_op_fn(const struct bench_bus *bus);
/* the sums over every thread that made an op call */
void bench_bus_counts(struct bench_bus *bus, struct bench_bus_counts *out);

#endif
