/* abi-harness call: one RPC call through a real BUS/RT broker, the reply
 * printed as `run` prints replies. */
#include "bus_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_cli.h"
#include "busrt_rpc.h"
#include "exit_codes.h"
#include "json_lines.h"

void harness_call_usage(FILE *f)
{
    fputs("usage: abi-harness call --bus PATH|HOST:PORT TARGET METHOD [PARAMS] [options]\n\n"
          "One RPC call to TARGET on a running BUS/RT broker (an EVA ICS node's bus, busrtd), the reply\n"
          "printed as `run` prints replies: {\"reply\":METHOD,\"code\":0,\"payload\":...}.\n"
          "PARAMS is JSON/YAML flow text packed as MessagePack; none = no params.\n\n"
          "  --bus PATH|HOST:PORT  the broker: a Unix socket (ends in .sock/.socket/.ipc or starts with /)\n"
          "                        or TCP host:port\n"
          "  --qos 0-3             QoS of the request (default 1, as EVA ICS calls; 3 = realtime)\n"
          "  --timeout S           seconds for the whole call (default 5); past it: TIMEOUT (-32008)\n"
          "  --name NAME           the client's name on the bus (default abi-harness.call.<pid>)\n\n"
          "exit: 0 a reply; 1 an error reply, TIMEOUT, or the target is not on the bus (QoS 1/3:\n"
          "BUS_CLIENT_NOT_REGISTERED at once), named on stderr with the error's message; 2 usage;\n"
          "7 the broker refused the name; 8 no broker at the address, or it went away during the call.\n",
          f);
}

int harness_call_main(int argc, char **argv)
{
    bus_cli_unblock_signals();
    struct bus_cli o = {.qos = 1, .timeout = 5.0};
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    if (bus_cli_wants_help(argc, argv)) {
        harness_call_usage(stdout);
        return HARNESS_EXIT_OK;
    }
    for (int i = 0; i < argc; i++) {
        int r = bus_cli_option(&o, "call", argc, argv, &i);
        if (r < 0)
            return HARNESS_EXIT_USAGE;
        if (r > 0)
            continue;
        if (!strncmp(argv[i], "--", 2) || npos == 3) {
            fprintf(stderr, "abi-harness call: unexpected %s\n", argv[i]);
            harness_call_usage(stderr);
            return HARNESS_EXIT_USAGE;
        }
        pos[npos++] = argv[i];
    }
    if (!o.bus || npos < 2) {
        fprintf(stderr, "abi-harness call: give --bus, TARGET and METHOD\n");
        harness_call_usage(stderr);
        return HARNESS_EXIT_USAGE;
    }
    char *params;
    size_t plen;
    if (bus_cli_pack_params("call", pos[2], &params, &plen) != 0)
        return HARNESS_EXIT_USAGE;
    char defname[64];
    snprintf(defname, sizeof defname, "abi-harness.call.%ld", (long)getpid());
    busrt_options bo;
    busrt_options_init(&bo);
    bo.timeout = o.timeout;
    int rc = HARNESS_EXIT_OK;
    busrt_client *c = bus_cli_connect("call", o.bus, o.name ? o.name : defname, &bo, &rc);
    if (!c) {
        free(params);
        return rc;
    }
    busrt_rpc *rpc = busrt_rpc_new(c, NULL, NULL);
    busrt_buf result;
    int code = busrt_rpc_call(rpc, pos[0], pos[1], params, plen, o.qos, o.timeout, &result);
    free(params);
    if (code == BUSRT_ERR_IO) {
        fprintf(stderr, "abi-harness call: %s %s: the broker went away (BUS_IO)\n", pos[0], pos[1]);
        rc = HARNESS_EXIT_BUS_LOST;
    } else {
        struct harness_reply reply = {.code = code};
        if (code == 0 && result.len) {
            reply.has_payload = 1;
            reply.payload = (char *)result.data;
            reply.payload_len = result.len;
        }
        harness_json_lines_reply(pos[1], strlen(pos[1]), &reply);
        if (code != 0) {
            const char *name = bus_cli_code_name(code);
            fprintf(stderr, "abi-harness call: %s %s: %s (%d)%s%.*s\n", pos[0], pos[1],
                name ? name : "unknown code (OTHER on a node)", code, result.len ? ": " : "",
                (int)result.len, result.data ? (const char *)result.data : "");
            rc = HARNESS_EXIT_FAILED;
        }
    }
    busrt_buf_free(&result);
    busrt_rpc_free(rpc);
    busrt_close(c);
    return rc;
}
