/* What the bus commands share: see bus_cli.h. */
#include "bus_cli.h"

#include <errno.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "exit_codes.h"
#include "payload_resolve.h"
#include "payload_yaml.h"
#include "strbuf.h"

static const char *option_value(const char *eq, int argc, char **argv, int *i)
{
    if (eq)
        return eq + 1;
    if (*i + 1 < argc)
        return argv[++*i];
    return NULL;
}

int bus_cli_option(struct bus_cli *o, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0)
        return 0;
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
#define IS(opt) (nlen == sizeof(opt) - 1 && !strncmp(name, opt, nlen))
    if (!IS("bus") && !IS("name") && !IS("qos") && !IS("timeout"))
        return 0;
    const char *v = option_value(eq, argc, argv, i);
    if (!v) {
        fprintf(stderr, "abi-harness %s: %.*s needs a value\n", cmd, (int)(nlen + 2), a);
        return -1;
    }
    char *end;
    if (IS("bus")) {
        o->bus = v;
    } else if (IS("name")) {
        o->name = v;
    } else if (IS("qos")) {
        long q = strtol(v, &end, 10);
        if (*end || end == v || q < 0 || q > 3) {
            fprintf(stderr, "abi-harness %s: --qos %s: use 0-3\n", cmd, v);
            return -1;
        }
        o->qos = (int)q;
    } else {
        double t = strtod(v, &end);
        if (*end || end == v || !(t > 0) || t > 86400) {
            fprintf(stderr, "abi-harness %s: --timeout %s: seconds > 0\n", cmd, v);
            return -1;
        }
        o->timeout = t;
    }
#undef IS
    return 1;
}

int bus_cli_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

int bus_cli_pack_params(const char *cmd, const char *text, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!text)
        return 0;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    int rc = harness_payload_yaml_parse(text, strlen(text), &zone, &obj, &err);
    if (rc == 0)
        rc = harness_payload_pack_bytes(&obj, NULL, data, len, &err);
    if (rc != 0)
        fprintf(stderr, "abi-harness %s: params %s: %s\n", cmd, text, harness_strbuf_cstr(&err));
    harness_strbuf_destroy(&err);
    msgpack_zone_destroy(&zone);
    return rc;
}

busrt_client *bus_cli_connect(const char *cmd, const char *addr, const char *name, const busrt_options *opt,
    int *exit_code)
{
    int err = 0;
    busrt_client *c = busrt_connect(addr, name, opt, &err);
    if (c)
        return c;
    int e = errno;
    const char *why;
    switch (err) {
    case BUSRT_ERR_BUSY: why = "the broker refused the name: already registered (BUS_BUSY)"; break;
    case BUSRT_ERR_DATA: why = "the broker refused the name: invalid (BUS_DATA)"; break;
    case BUSRT_ERR_NOT_REGISTERED: why = "the broker refused the name: its primary is not connected"; break;
    case BUSRT_ERR_ACCESS: why = "the broker refused the name: access denied (BUS_ACCESS)"; break;
    case BUSRT_ERR_NOT_SUPPORTED: why = "not a BUS/RT broker of protocol 1 (BUS_NOT_SUPPORTED)"; break;
    case BUSRT_ERR_TIMEOUT: why = "no answer within the timeout (BUS_TIMEOUT)"; break;
    case BUSRT_ERR_IO: why = e ? strerror(e) : "connection closed (BUS_IO)"; break;
    default: why = bus_cli_code_name(err) ? bus_cli_code_name(err) : "failed";
    }
    fprintf(stderr, "abi-harness %s: cannot connect to %s as %s: %s\n", cmd, addr, name, why);
    *exit_code = err == BUSRT_ERR_BUSY || err == BUSRT_ERR_DATA || err == BUSRT_ERR_NOT_REGISTERED ||
                 err == BUSRT_ERR_ACCESS ? HARNESS_EXIT_BUS_REFUSED : HARNESS_EXIT_BUS_LOST;
    return NULL;
}

const char *bus_cli_code_name(int code)
{
    const char *n = busrt_error_name(code);
    return n ? n : harness_errcode_name(code);
}

void bus_cli_unblock_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
