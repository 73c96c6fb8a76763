/* The initial payload handed to svc_init, as the launcher re-encodes it
 * (eva4-common src/services.rs Initial after into_legacy_compat, fields in
 * its order): version 4, system_name, id, command, env, prepare_command,
 * data_path ("" for user nobody), timeout{startup,shutdown,default} floats,
 * core{build, version, eapi_verion (sic), path, log_level, active},
 * bus{type, path, timeout, buf_size, buf_ttl, queue_size, token: nil} (no
 * ping_interval), realtime{priority, cpu_ids, prealloc_heap}, config ({}
 * when none; ^include/^pipe values expanded), workers, user ("" when none),
 * react_to_fail, fail_mode, fips, call_tracing, restart_delay. */
#ifndef HARNESS_INITIAL_PAYLOAD_H
#define HARNESS_INITIAL_PAYLOAD_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "svc_template.h"

#define HARNESS_DEFAULT_SVC_ID "eva.controller.test"
#define HARNESS_DEFAULT_TIMEOUT 5.0
#define HARNESS_DEFAULT_QUEUE_SIZE 8192
#define HARNESS_CORE_VERSION "4.0.2"
#define HARNESS_CORE_BUILD 2024120601ULL
#define HARNESS_EAPI_VERSION 1

struct harness_initial_options {
    const char *lib_path;
    const char *svc_id;
    const char *system_name; /* NULL: the host name */
    const char *data_path;   /* NULL: EVA_DIR/runtime/svc_data/ID, created */
    const char *eva_dir;     /* core.path, absolute */
    long workers;            /* >= 0 overrides the template's workers (--workers) */
    int log_level;           /* core.log_level */
    int core_active;
    int fail_mode;
    int fips;
    int call_tracing;
    size_t queue_size;       /* the launcher's command queue (--command-queue-size) */
    const char *bus_path;    /* NULL: the template's bus.path (attach: --bus) */
    const msgpack_object *extra; /* a map merged over the top level, or NULL */
};

/* what was sent, and the values the launcher itself goes by */
struct harness_initial {
    char *data;
    size_t len;
    double timeout_startup, timeout_shutdown, timeout_default;
    unsigned workers;
    size_t queue_size;
    char *svc_id;
    char *system_name;
    char *data_path;
    char *bus_path;     /* bus.path as sent */
    double bus_timeout; /* bus.timeout, or timeout.default when nil */
    int log_level; /* core.log_level: the launcher's own bus log lines follow it too */
};

/* 0; -1 with a message in err (bad input: usage); -2 when the service
 * refuses to start (fail_mode without react_to_fail: launch failed) */
int harness_initial_payload_build(const struct harness_svc_template *tmpl, const struct harness_initial_options *opts,
                                  struct harness_initial *out, struct harness_strbuf *err);
void harness_initial_payload_destroy(struct harness_initial *initial);

#endif
