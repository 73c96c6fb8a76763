/* abi-harness: plays the EVA ICS v4 FFI launcher for any service library
 * that implements the FFI service ABI v1. */
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "bench.h"
#include "bench_bus_e2e.h"
#include "bus_call.h"
#include "check.h"
#include "exit_codes.h"
#include "launch.h"
#include "options.h"
#include "run.h"
#include "serve_test.h"
#include "signals.h"

#define HARNESS_VERSION "0.1.0"

#if defined(__SANITIZE_ADDRESS__)
/* In a sanitizer build the library under test shares our allocator: a huge
 * malloc it makes on a garbage payload (msgpack-c pre-allocates declared
 * lengths) must fail with NULL as it does in production, not abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

static void harness_main_usage(FILE *f)
{
    fputs("usage: abi-harness <command> [args]\n\n"
          "Loads an EVA ICS v4 FFI service library (ABI v1) and drives it exactly as the node's\n"
          "FFI launcher does, with a mock node core (eva.core, eva.registry) on the other side.\n\n"
          "commands:\n"
          "  run LIB [options]     launch the service, run calls/frames/script steps, print replies and\n"
          "                        published frames as JSON lines, stop it in order\n"
          "  check LIB [options]   ABI conformance checks, each in a child process of its own\n"
          "  bench LIB [options]   time per call/frame of a library, alone or --vs another in one process\n"
          "  launch [opts] LIB     on a node, in place of svc/eva-ffi (command: in a service template)\n"
          "  attach LIB --config TEMPLATE --bus PATH|HOST:PORT\n"
          "                        the library as an external service on a live node's bus\n"
          "  bench --bus ADDR ...  calls/s and latency of any service through a real BUS/RT broker\n"
          "  call --bus ADDR TARGET METHOD [PARAMS]\n"
          "                        one RPC call through a real BUS/RT broker, the reply as `run` prints it\n"
          "  serve-test --bus ADDR --name NAME\n"
          "                        a bare bus service answering `test` (the broker's share in a bench)\n"
          "  help [command]        help of a command\n\n"
          "Run `abi-harness <command> --help` for the options of a command.\n"
          "abi-harness --version prints the version.\n",
          f);
}

static int harness_main_command(const char *name, enum harness_subcommand *cmd)
{
    if (!strcmp(name, "run")) *cmd = HARNESS_CMD_RUN;
    else if (!strcmp(name, "check")) *cmd = HARNESS_CMD_CHECK;
    else if (!strcmp(name, "bench")) *cmd = HARNESS_CMD_BENCH;
    else return -1;
    return 0;
}

int main(int argc, char **argv)
{
    /* before any thread exists, so every thread (the library's too)
     * inherits the blocked signals and only the signal thread takes them */
    harness_signals_block();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        harness_main_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? HARNESS_EXIT_USAGE : HARNESS_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("abi-harness %s (EVA ICS FFI service ABI v1)\n", HARNESS_VERSION);
        return HARNESS_EXIT_OK;
    }
    enum harness_subcommand cmd;
    /* launch and attach parse their own command lines (launch: eva-ffi's) */
    if (!strcmp(argv[1], "launch")) return harness_launch_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "attach")) return harness_attach_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "call")) return harness_call_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "serve-test")) return harness_serve_test_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "bench") && harness_bench_bus_e2e_wanted(argc - 2, argv + 2))
        return harness_bench_bus_e2e_main(argc - 2, argv + 2);
    if (!strcmp(argv[1], "help")) {
        if (argc < 3) {
            harness_main_usage(stdout);
            return HARNESS_EXIT_OK;
        }
        char help[] = "--help";
        char *help_argv[] = {help, NULL};
        if (!strcmp(argv[2], "launch")) return harness_launch_main(1, help_argv);
        if (!strcmp(argv[2], "attach")) return harness_attach_main(1, help_argv);
        if (!strcmp(argv[2], "call") || !strcmp(argv[2], "serve-test")) {
            (argv[2][0] == 'c' ? harness_call_usage : harness_serve_test_usage)(stdout);
            return HARNESS_EXIT_OK;
        }
        if (harness_main_command(argv[2], &cmd) < 0) {
            fprintf(stderr, "abi-harness: unknown command %s\n", argv[2]);
            return HARNESS_EXIT_USAGE;
        }
        harness_options_usage(cmd, 0);
        return HARNESS_EXIT_OK;
    }
    if (harness_main_command(argv[1], &cmd) < 0) {
        fprintf(stderr, "abi-harness: unknown command %s\n\n", argv[1]);
        harness_main_usage(stderr);
        return HARNESS_EXIT_USAGE;
    }
    if (cmd == HARNESS_CMD_BENCH) return harness_bench_main(argc - 2, argv + 2);
    struct harness_options o;
    int prc = harness_options_parse(&o, cmd, argc - 2, argv + 2);
    if (prc != 0) {
        harness_options_free(&o);
        return prc > 0 ? HARNESS_EXIT_OK : HARNESS_EXIT_USAGE;
    }
    int rc;
    if (cmd == HARNESS_CMD_RUN) {
        rc = harness_run_main(&o);
    } else {
        rc = harness_check_main(&o);
    }
    harness_options_free(&o);
    return rc;
}
