/* The op function's state, shared by bus.c (the ops) and bus_misuse.c (ABI
 * misuse accounting, op names, the counters). Internal to src/launcher. */
#ifndef HARNESS_BUS_STATE_H
#define HARNESS_BUS_STATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "bus.h"
#include "op_buffers.h"

struct harness_bus_state {
    struct harness_bus_config cfg;
    struct harness_bus_backend backend;
    struct harness_out_queue queue;
    struct harness_topic_set subscriptions;
    pthread_t consumer;
    int started;
    atomic_int connected;
    atomic_int active;
    atomic_int terminated;
    atomic_int detached;
    atomic_int inflight;
    double terminated_at;
    atomic_ulong ops, publish, subscribe, rpc_calls, rpc_results, logs, busy, not_ready, invalid, misuse;
    atomic_ulong after_terminate;
    atomic_ulong no_nul[HARNESS_NUL_SLOTS];
    atomic_ulong empty_topics, stale_results, logs_dropped;
    atomic_int poc;
    atomic_int after_terminate_first_op;
    _Atomic double after_terminate_first_delay;
};

/* one op function per process (it has no context argument) */
extern struct harness_bus_state harness_bus;

/* bus_misuse.c */
void harness_bus_misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int32_t harness_bus_invalid(const char *op, const char *why, enum harness_op_read r);
void harness_bus_note_busy(void);
void harness_bus_note_no_nul(int16_t op);
/* an empty topic: reported as a hang (does not return) */
void harness_bus_empty_topic(int16_t op) __attribute__((noreturn));
void harness_bus_note_after_terminate(int16_t op);

#endif
