/* abi-harness launch: in place of svc/eva-ffi on a node. Same command line,
 * same stdin protocol (eva4-sdk src/service.rs: 0x01, u32 LE size, the
 * MessagePack initial payload; then 0x00 beacons), the launcher model of
 * run over the real bus named in the payload. */
#include "launch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_serve.h"
#include "exit_codes.h"
#include "initial_payload.h"
#include "msgpack_map.h"
#include "output.h"
#include "svc_template.h"
#include "xalloc.h"

static void harness_launch_usage(FILE *f)
{
    fputs("usage: abi-harness launch [--command-queue-size N] [--blocking-fp] LIB\n\n"
          "Runs LIB on a node in place of svc/eva-ffi: name it in a service template,\n"
          "  command: abi-harness launch [--command-queue-size N] LIB\n"
          "The node writes the initial payload on stdin (0x01, u32 LE size, MessagePack), then\n"
          "0x00 beacons; the service connects to the bus in the payload as its id and is driven\n"
          "as eva-ffi drives it: test/info/stop answered here, NOT_READY before ready, SVC/ST\n"
          "ready after svc_prepare, IS_ACTIVE, logs to LOG/IN/<level> (core.log_level), error\n"
          "codes EVA ICS does not know as OTHER, BUSY when the command queue is full, POC,\n"
          "the stop order. SIGTERM, SIGHUP, EOF or a byte other than 0x00 on stdin stop it;\n"
          "SIGINT is ignored.\n\n"
          "One difference from eva-ffi, on purpose: an RPC_CALL made inside svc_prepare,\n"
          "svc_launch or svc_terminate (or from a thread the library waits for there) works\n"
          "with any workers (EVA ICS 4.2 with workers: 1 hangs there). Inside svc_init it\n"
          "answers NOT_READY, as under eva-ffi: the bus is not up yet.\n\n"
          "  --command-queue-size N  bound of the outgoing queue (default 8192); full: BUSY\n"
          "  --blocking-fp           library traffic on a second connection <id>%%0 (its\n"
          "                          frames never reach svc_on_frame), as eva-ffi\n\n"
          "exit codes (eva-ffi's where it has one): 0 stopped (after POC too when the stop\n"
          "ends within a second, as eva-ffi); 1 the launch failed (load, svc_init, info,\n"
          "svc_prepare, svc_launch), svc_terminate failed, or POC and the stop took longer\n"
          "than a second; 2 usage or no initial payload on stdin; 3 not ready within\n"
          "timeout.startup, 4 not stopped within timeout.shutdown (the node kills eva-ffi\n"
          "then); 6 would hang a node (an empty topic: eva-ffi loops for ever); 7 the broker\n"
          "refused the name; 8 no broker, or it went away (eva-ffi is killed by SIGKILL\n"
          "then; launch stops the service in order first).\n",
          f);
}

static int harness_launch_read_all(void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(STDIN_FILENO, p, len);
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* eva4-sdk src/service.rs read_initial: 0x01, u32 LE size, the payload */
static char *harness_launch_read_payload(size_t *len)
{
    unsigned char head[5];
    if (harness_launch_read_all(head, 1) < 0 || head[0] != 0x01) return NULL;
    if (harness_launch_read_all(head + 1, 4) < 0) return NULL;
    uint32_t size = (uint32_t)head[1] | (uint32_t)head[2] << 8 | (uint32_t)head[3] << 16 | (uint32_t)head[4] << 24;
    char *data = harness_xmalloc(size ? size : 1);
    if (harness_launch_read_all(data, size) < 0) {
        free(data);
        return NULL;
    }
    *len = size;
    return data;
}

static const char *harness_launch_str(const msgpack_object *o, msgpack_zone *zone)
{
    if (!o || o->type != MSGPACK_OBJECT_STR) return NULL;
    char *s = msgpack_zone_malloc(zone, o->via.str.size + 1);
    memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = '\0';
    return s;
}

static int harness_launch_bool(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

/* the payload minus config: every field the node sent goes to the library as
 * it came, config after its ^include/^pipe values are expanded */
static msgpack_object harness_launch_extra(const msgpack_object *root, msgpack_zone *zone)
{
    msgpack_object extra = {.type = MSGPACK_OBJECT_MAP};
    extra.via.map.ptr = msgpack_zone_malloc(zone, (root->via.map.size + 1) * sizeof(msgpack_object_kv));
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 6 && !memcmp(kv->key.via.str.ptr, "config", 6))
            continue;
        extra.via.map.ptr[extra.via.map.size++] = *kv;
    }
    return extra;
}

static int harness_launch_args(int argc, char **argv, const char **lib, size_t *queue_size, int *blocking_fp)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            harness_launch_usage(stdout);
            return 1;
        } else if (!strcmp(a, "--blocking-fp")) {
            *blocking_fp = 1;
        } else if (!strcmp(a, "--command-queue-size") && i + 1 < argc) {
            char *end;
            unsigned long long n = strtoull(argv[++i], &end, 10);
            if (*end || n == 0 || argv[i][0] == '-') {
                fprintf(stderr, "abi-harness launch: --command-queue-size needs a positive number\n");
                return -1;
            }
            *queue_size = (size_t)n;
        } else if (a[0] == '-' || *lib) {
            fprintf(stderr, "abi-harness launch: unexpected argument %s (see --help)\n", a);
            return -1;
        } else {
            *lib = a;
        }
    }
    if (!*lib) {
        fprintf(stderr, "abi-harness launch: no LIB given (see --help)\n");
        return -1;
    }
    return 0;
}

int harness_launch_main(int argc, char **argv)
{
    const char *lib = NULL;
    size_t queue_size = HARNESS_DEFAULT_QUEUE_SIZE;
    int blocking_fp = 0;
    int arc = harness_launch_args(argc, argv, &lib, &queue_size, &blocking_fp);
    if (arc) return arc > 0 ? HARNESS_EXIT_OK : HARNESS_EXIT_USAGE;

    size_t len = 0;
    char *data = harness_launch_read_payload(&len);
    if (!data) {
        harness_log(HARNESS_LOG_ERROR, "no initial payload on stdin (0x01, u32 LE size, MessagePack): a node "
                                       "starts this command");
        return HARNESS_EXIT_USAGE;
    }
    struct harness_svc_template tmpl;
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    struct harness_initial initial;
    memset(&initial, 0, sizeof initial);
    char *lib_path = NULL;
    int rc = HARNESS_EXIT_USAGE;
    if (harness_svc_template_from_payload(&tmpl, data, len, &err) < 0) goto out;
    const msgpack_object *core = harness_msgpack_map_get(&tmpl.root, "core");
    const msgpack_object *level = harness_msgpack_map_get(core, "log_level");
    int log_level = level && level->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int)level->via.u64 : HARNESS_LOG_INFO;
    harness_output_set_level(log_level);
    const char *eva_dir = harness_launch_str(harness_msgpack_map_get(core, "path"), &tmpl.zone);
    const char *data_path = harness_launch_str(harness_msgpack_map_get(&tmpl.root, "data_path"), &tmpl.zone);
    msgpack_object extra = harness_launch_extra(&tmpl.root, &tmpl.zone);
    struct harness_initial_options io = {
        .lib_path = lib,
        .svc_id = harness_launch_str(harness_msgpack_map_get(&tmpl.root, "id"), &tmpl.zone),
        .system_name = harness_launch_str(harness_msgpack_map_get(&tmpl.root, "system_name"), &tmpl.zone),
        .data_path = data_path && *data_path ? data_path : NULL,
        .eva_dir = eva_dir,
        .workers = -1,
        .log_level = log_level,
        .core_active = harness_launch_bool(harness_msgpack_map_get(core, "active")),
        .fail_mode = harness_launch_bool(harness_msgpack_map_get(&tmpl.root, "fail_mode")),
        .fips = harness_launch_bool(harness_msgpack_map_get(&tmpl.root, "fips")),
        .queue_size = queue_size,
        .extra = &extra,
    };
    if (!io.svc_id) {
        harness_strbuf_append_str(&err, "the initial payload has no id");
        goto out;
    }
    int brc = harness_initial_payload_build(&tmpl, &io, &initial, &err);
    if (brc < 0) {
        rc = brc == -2 ? HARNESS_EXIT_LAUNCH : HARNESS_EXIT_USAGE;
        goto out;
    }
    /* eva4 svc/ffi/src/main.rs: a relative library path is taken from the EVA dir */
    lib_path = eva_dir ? harness_svc_template_resolve_library(lib, eva_dir) : harness_xstrdup(lib);
    struct harness_bus_serve serve = {
        .lib_path = lib_path,
        .initial = &initial,
        .addr = initial.bus_path,
        .log_level = log_level,
        .blocking_fp = blocking_fp,
        .watch_stdin = 1,
        .ffi_exit_codes = 1,
    };
    rc = harness_bus_serve_main(&serve);
out:
    if (err.len) harness_log(HARNESS_LOG_ERROR, "%s", err.data);
    harness_strbuf_destroy(&err);
    harness_initial_payload_destroy(&initial);
    harness_svc_template_destroy(&tmpl);
    free(lib_path);
    free(data);
    return rc;
}
