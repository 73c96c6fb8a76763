/* abi-harness serve-test: see serve_test.h. Answers on the client's reader
 * thread, with nothing in between: what is left of a call's time is the
 * broker's and the clients'. */
#include "serve_test.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bus_cli.h"
#include "busrt_rpc.h"
#include "exit_codes.h"

void harness_serve_test_usage(FILE *f)
{
    fputs("usage: abi-harness serve-test --bus PATH|HOST:PORT --name NAME [--timeout S]\n\n"
          "A bare service on the bus: registers as NAME and answers `test` with an empty reply (any other\n"
          "method: METHOD_NOT_FOUND), right on its reader thread, until SIGTERM/SIGINT. For measuring the\n"
          "broker's own share of a call (abi-harness bench --bus ... --target NAME --call test).\n"
          "Prints \"ready\" on stdout once registered.\n\n"
          "exit: 0 on SIGTERM/SIGINT; 2 usage; 7 the broker refused the name; 8 no broker there, or it went away.\n",
          f);
}

/* (answers with rpc NULL: the request's own layer; the first request can
 * come before busrt_rpc_new has returned) */
static void on_request(void *ctx, const busrt_rpc_event *ev, busrt_rpc_request *req)
{
    (void)ctx;
    if (!req)
        return;
    if (ev->method_len == 4 && !memcmp(ev->method, "test", 4))
        busrt_rpc_reply(NULL, req, NULL, 0);
    else
        busrt_rpc_error(NULL, req, BUSRT_RPC_METHOD_NOT_FOUND, NULL, 0);
}

int harness_serve_test_main(int argc, char **argv)
{
    struct bus_cli o = {.timeout = 5.0};
    if (bus_cli_wants_help(argc, argv)) {
        harness_serve_test_usage(stdout);
        return HARNESS_EXIT_OK;
    }
    for (int i = 0; i < argc; i++) {
        int r = bus_cli_option(&o, "serve-test", argc, argv, &i);
        if (r <= 0) {
            if (r == 0)
                fprintf(stderr, "abi-harness serve-test: unexpected %s\n", argv[i]);
            return HARNESS_EXIT_USAGE;
        }
    }
    if (!o.bus || !o.name) {
        fprintf(stderr, "abi-harness serve-test: give --bus and --name\n");
        return HARNESS_EXIT_USAGE;
    }
    busrt_options bo;
    busrt_options_init(&bo);
    bo.timeout = o.timeout;
    bo.start_paused = 1;
    int rc = HARNESS_EXIT_OK;
    busrt_client *c = bus_cli_connect("serve-test", o.bus, o.name, &bo, &rc);
    if (!c)
        return rc;
    busrt_rpc *rpc = busrt_rpc_new(c, on_request, NULL);
    printf("ready\n");
    fflush(stdout);
    /* main blocked SIGINT/SIGTERM in every thread: wait for them here,
     * looking at the connection between waits */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    for (;;) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (!busrt_is_connected(c)) {
            fprintf(stderr, "abi-harness serve-test: the broker went away (BUS_IO)\n");
            rc = HARNESS_EXIT_BUS_LOST;
            break;
        }
    }
    busrt_rpc_free(rpc);
    busrt_close(c);
    return rc;
}
