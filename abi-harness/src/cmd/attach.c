/* abi-harness attach: a library under development served on a live node's
 * bus as an external service, without installing it. The initial payload is
 * built from the service template as run builds it (launch_setup.c), with
 * bus.path from --bus; calls to eva.core and eva.registry reach the node's
 * own. */
#include "attach.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_serve.h"
#include "exit_codes.h"
#include "launch_setup.h"
#include "options.h"
#include "output.h"

static void harness_attach_usage(FILE *f)
{
    fputs("usage: abi-harness attach LIB --config TEMPLATE --bus PATH|HOST:PORT [--id NAME]\n"
          "                           [--log-level LEVEL] [--workers N]\n\n"
          "Runs LIB as an external service on a live node's bus, as the node would run it\n"
          "(same launcher model as launch), without installing it. The initial payload is\n"
          "built from the service template TEMPLATE as `run` builds it, with bus.path = --bus\n"
          "and core.active true (a live node's core is up);\n"
          "the service registers as the template's id (--id NAME overrides it). Its calls to\n"
          "eva.core and eva.registry go to the node's own. The library's logs show on stderr\n"
          "and go to LOG/IN/<level>. Ctrl-C (SIGINT), SIGTERM or SIGHUP stop it in order.\n"
          "As with launch, an RPC_CALL inside svc_prepare/svc_launch/svc_terminate works with\n"
          "any workers; inside svc_init it answers NOT_READY (the bus is not up yet).\n\n"
          "  --config TEMPLATE   the service template (YAML), as for `eva svc create`\n"
          "  --bus ADDR          the node's bus: a socket path (var/bus.ipc) or HOST:PORT\n"
          "  --id NAME           the service id and bus name (default: the template's id\n"
          "                      or " HARNESS_DEFAULT_SVC_ID ")\n"
          "  --log-level LEVEL   core.log_level: trace, debug, info (default), warn, error, off\n"
          "  --workers N         initial.workers (default: the template's, else 1)\n\n"
          "exit codes: 0 stopped, 1 POC and the stop took over a second, 2 usage, 3 launch\n"
          "failed (or not ready within timeout.startup), 4 svc_terminate failed or not\n"
          "stopped within timeout.shutdown,\n"
          "6 would hang a node (an empty topic), 7 the broker refused the name (taken:\n"
          "a busrtd broker refuses a duplicate; a node's broker drops the older client),\n"
          "8 no broker at --bus, or it went away while serving.\n",
          f);
}

static int harness_attach_args(int argc, char **argv, struct harness_options *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            harness_attach_usage(stdout);
            return 1;
        }
        if (a[0] != '-') {
            if (o->lib_path) {
                fprintf(stderr, "abi-harness attach: one LIB only (see --help)\n");
                return -1;
            }
            o->lib_path = a;
            continue;
        }
        if (!val) {
            fprintf(stderr, "abi-harness attach: %s needs a value (see --help)\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--config")) o->config_path = val;
        else if (!strcmp(a, "--bus")) o->bus_path = val;
        else if (!strcmp(a, "--id")) o->svc_id = val;
        else if (!strcmp(a, "--log-level") && (o->log_level = harness_output_level_parse(val)) >= 0) continue;
        else if (!strcmp(a, "--workers") && (o->workers = strtol(val, NULL, 10)) >= 0) continue;
        else {
            fprintf(stderr, "abi-harness attach: bad option %s %s (see --help)\n", a, val);
            return -1;
        }
    }
    if (!o->config_path || !o->bus_path) {
        fprintf(stderr, "abi-harness attach: --config and --bus are required (see --help)\n");
        return -1;
    }
    return 0;
}

int harness_attach_main(int argc, char **argv)
{
    struct harness_options o;
    memset(&o, 0, sizeof o);
    o.log_level = HARNESS_LOG_INFO;
    o.workers = -1;
    o.live_core = 1;
    int arc = harness_attach_args(argc, argv, &o);
    if (arc) return arc > 0 ? HARNESS_EXIT_OK : HARNESS_EXIT_USAGE;
    harness_output_set_level(o.log_level);
    struct harness_launch_setup ls;
    int rc = harness_launch_setup(&ls, &o);
    if (rc == 0) {
        struct harness_bus_serve serve = {
            .lib_path = ls.lib_path,
            .initial = &ls.initial,
            .addr = o.bus_path,
            .log_level = o.log_level,
            .blocking_fp = ls.args.blocking_fp,
            .sigint_stops = 1,
            .echo_logs = 1,
        };
        harness_log(HARNESS_LOG_INFO, "attaching %s to %s as %s", ls.lib_path, o.bus_path, ls.initial.svc_id);
        rc = harness_bus_serve_main(&serve);
    }
    harness_launch_setup_destroy(&ls);
    return rc;
}
