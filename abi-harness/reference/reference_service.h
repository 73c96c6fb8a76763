/*
 * Reference EVA ICS v4 FFI service (ABI version 1), written in plain C11 with
 * msgpack-c.
 *
 * It implements the item part of the virtual controller (list/get/set with
 * RAW state events) plus the service duties (NOT_READY until prepared,
 * thread-local results, logging through the LOG ops, a clean terminate).
 * It is the correctness reference for abi-harness and the speed baseline for
 * the Swift library, so it is written to be fast as well as careful:
 *
 *   - items live in an open-addressing hash table keyed by OID, plus an array
 *     kept sorted by OID so that `list` needs no sort; the table is guarded by
 *     a pthread rwlock, each item's state by its own mutex (held while its
 *     RAW event is published, so events of one item leave in order);
 *   - every thread reuses its own result buffer, scratch buffers and
 *     MessagePack zone across calls (freed when the thread exits);
 *   - item values are kept as their packed MessagePack bytes.
 *
 * Item states also survive restarts through the node registry (eva.registry
 * key eva/svc_data/<svc id>/items: read at prepare, written at terminate), so
 * results of outgoing RPC calls are read in both GET_RPC_RESULT modes.
 *
 * Limits, as of msgpack-c: a container header claiming a huge element count
 * makes msgpack_unpack reserve that much (virtual) memory before it finds the
 * payload too short; it then fails with NOMEM/CONTINUE and we answer
 * INVALID_PARAMS. Nesting deeper than msgpack-c's stack (32) is refused too.
 *
 * Building with one of the BREAK_* macros produces a deliberately broken
 * variant that must fail exactly one abi-harness check (see the Makefile).
 *
 * This header is what the service's files share (one concept each:
 * reference_state.c, _results.c, _ops.c, _msgpack.c, _items.c, _info.c,
 * _init.c, _registry.c, _lifecycle.c, _methods.c, _frames.c). Only the eight
 * ABI functions are exported (exports.map); the rest stays in the library.
 */
#ifndef REFERENCE_SERVICE_H
#define REFERENCE_SERVICE_H

#define _POSIX_C_SOURCE 200809L

#define EVA_FFI_DECLARE_EXPORTS
#include <eva_ffi.h>

#include <msgpack.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

#ifdef RELY_PROBE
#include "reference_probe.h"
#endif

#ifdef BREAK_SYMBOLS
/* Broken: eva_svc_get_result is defined but not exported. */
#define EXPORT_GET_RESULT __attribute__((visibility("hidden")))
#else
#define EXPORT_GET_RESULT EXPORT
#endif

#define SVC_AUTHOR "EVA ICS FFI project"
#define SVC_VERSION "0.1.0"
#define SVC_DESCRIPTION "C reference service: virtual items (list/get/set)"

/* Per-thread buffers are kept across calls; one that grew past this (a huge
 * reply) is released before the next call, so that it does not pin memory in
 * a pool thread for ever. */
#define KEEP_BUFFER_MAX ((size_t)16 << 20)
#define ZONE_CHUNK 2048
#define LOG_LINE_MAX 512

/* ---------------------------------------------------------- global state
 * (reference_state.c) */

extern _Atomic(eva_ffi_op_fn) g_op_fn;
extern atomic_bool g_bus_up;     /* svc_prepare has started: LOG ops work */
extern atomic_bool g_ready;      /* svc_prepare has finished */
extern atomic_bool g_stopped;    /* svc_terminate has been called */
extern atomic_int g_op_inflight; /* op calls under way (for svc_terminate) */
extern atomic_int g_log_level;

/* Set by svc_init, read-only afterwards. */
extern bool g_auto_create;
extern bool g_fail_mode;
extern bool g_react_to_fail;
extern double g_shutdown_timeout;
extern int64_t g_workers; /* initial.workers: <= 1 is a one-thread launcher */
extern char *g_info;
extern size_t g_info_len;
extern char *g_registry_key; /* eva/svc_data/<id>/items; NULL without an id */
/* frees the items, the info and the registry key (reference_state.c) */
void state_release(void);

/* The registry: restored by the first item call after svc_prepare, saved by a
 * saver thread after changes (never from a lifecycle callback: on a one-worker
 * EVA ICS 4.2 node an RPC_CALL made there never returns). */
extern pthread_mutex_t g_restore_mu;
extern atomic_bool g_restored;   /* the first item call has read the registry */
extern int32_t g_restore_rc;     /* its outcome (guarded by g_restore_mu) */
extern pthread_mutex_t g_save_mu;
extern pthread_cond_t g_save_cv;
extern atomic_bool g_save_dirty; /* a change not saved yet */
extern bool g_save_quit;         /* guarded by g_save_mu */
extern bool g_save_busy;         /* the saver is saving (guarded by g_save_mu) */
extern bool g_saver_up;          /* the saver thread exists (lifecycle thread only) */
extern pthread_t g_saver;
extern atomic_bool g_saver_detached; /* left to end its save after svc_terminate */

/* ------------------------------------- per-thread state and results
 * (reference_results.c) */

struct tls_state {
    bool registered;
    bool zone_ok;
    msgpack_sbuffer out;     /* the result of the last call on this thread */
    msgpack_sbuffer scratch; /* a packed item value, before it is stored */
    msgpack_sbuffer pub;     /* a PUBLISH buffer: topic, NUL, payload */
    msgpack_zone zone;       /* objects of the payload being parsed */
    int op_depth;            /* op calls under way on this thread */
};

extern _Thread_local struct tls_state tls;
extern pthread_key_t g_tls_key;
extern bool g_tls_key_ok;

void tls_release(void *p);
/* The calling thread's state, its zone ready for use. NULL only when out of
 * memory. */
struct tls_state *tls_get(void);
void sbuffer_trim(msgpack_sbuffer *b);
/* Starts a call that may leave a result: the previous result is dropped. */
void result_begin(struct tls_state *t);
/* Ends such a call: a positive return is the result size. */
int32_t result_end(struct tls_state *t, int32_t rc);

/* ---------------------------------------- op calls, logging (reference_ops.c) */

int32_t op_call(int16_t op, struct EvaFFIBuffer *buf);
void svc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_trace(...) svc_log(EVA_LOG_LEVEL_TRACE, __VA_ARGS__)
#define log_debug(...) svc_log(EVA_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) svc_log(EVA_LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) svc_log(EVA_LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) svc_log(EVA_LOG_LEVEL_ERROR, __VA_ARGS__)

/* ------------------------------------------ MessagePack (reference_msgpack.c) */

/* Parses exactly one object from data[0..len) into the thread's zone.
 * Trailing bytes make the payload invalid. */
bool unpack_one(struct tls_state *t, const char *data, size_t len, msgpack_object *out);
bool key_is(const msgpack_object *k, const char *s, size_t n);
bool obj_int64(const msgpack_object *o, int64_t *v);
bool obj_number(const msgpack_object *o, double *v);
int pack_strn(msgpack_packer *pk, const char *s, size_t n);
int pack_cstr(msgpack_packer *pk, const char *s);
const char *obj_type_name(msgpack_object_type t);

#define KEY_IS(k, lit) key_is((k), lit, sizeof(lit) - 1)

/* Type checks on request parameters. In the BREAK_GARBAGE variant they turn
 * into assumptions: valid MessagePack of a wrong type (a bare integer, {i: 5})
 * aborts the process. */
#ifdef BREAK_GARBAGE
#define REQUIRE_TYPE(obj, ty)                                                      \
    do {                                                                           \
        if ((obj).type != (ty)) {                                                  \
            fprintf(stderr, "reference: assumed %s, got %s\n", obj_type_name(ty),  \
                    obj_type_name((obj).type));                                    \
            abort();                                                               \
        }                                                                          \
    } while (0)
#else
#define REQUIRE_TYPE(obj, ty)                                                      \
    do {                                                                           \
        if ((obj).type != (ty))                                                    \
            return EVA_ERR_CODE_INVALID_PARAMS;                                    \
    } while (0)
#endif

/* ------------------------------------------------ items (reference_items.c) */

struct item {
    pthread_mutex_t mu; /* guards status and value */
    uint64_t hash;
    int16_t status;
    char *value; /* packed MessagePack value; value_len 0 means nil */
    size_t value_len;
    size_t value_cap;
    size_t oid_len;
    size_t topic_len; /* "RAW/kind/path", NUL-terminated in text */
    char *topic;
    char text[]; /* oid, NUL, topic, NUL */
};

struct item_table {
    pthread_rwlock_t lock; /* guards the table and the sorted array */
    struct item **slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
    struct item **sorted; /* ordered by OID */
    size_t sorted_cap;
};
extern struct item_table g_items;

/* Checks "kind:path" (kind unit/sensor/lvar/lmacro; path non-empty, no empty
 * segment, none of '#', '+', ':' or control characters). Sets *kind_len. */
bool oid_valid(const char *s, size_t n, size_t *kind_len);
/* Only while no other thread can use the library (svc_init). */
void table_clear(void);
/* Finds (or, with create, makes) an item and returns it with its mutex held.
 * NULL with *err set when not found or out of memory. */
struct item *item_acquire(const char *oid, size_t n, size_t kind_len, bool create, int32_t *err);
/* Packs an item's value (caller holds its mutex). */
int pack_value(msgpack_packer *pk, const struct item *it);
/* {oid, status, value}; caller holds the item's mutex. */
int pack_state(msgpack_packer *pk, const struct item *it);
/* Publishes {status, value} to the item's RAW topic (caller holds its mutex). */
int32_t publish_state(struct tls_state *t, const struct item *it);
/* Sets an item's status and/or value, then publishes its RAW event. */
int32_t item_update(struct tls_state *t, const char *oid, size_t oid_len, size_t kind_len, bool create,
                    bool has_status, int16_t status, const msgpack_object *value);

/* ------------------------------------------------- info (reference_info.c) */

int pack_info(msgpack_packer *pk);

/* ------------------------------------------ registry (reference_registry.c) */

int16_t restore_items(struct tls_state *t);
void save_items(struct tls_state *t);
/* fail_mode + react_to_fail: every configured item goes to status -1. */
void mark_items_failed(struct tls_state *t);
/* The first item call after svc_prepare restores the saved items (once). */
int32_t ensure_restored(struct tls_state *t);
/* A change to save. */
void mark_dirty(void);
/* The saver thread (started in svc_launch, stopped in svc_terminate). */
void *saver_main(void *arg);

#endif
