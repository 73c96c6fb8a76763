/* abi-harness bench --bus: see bench_bus_e2e.h. Each client is a thread
 * with its own connection; all connect first, then start together. */
#include "bench_bus_e2e.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_stats.h"
#include "bus_cli.h"
#include "busrt_rpc.h"
#include "exit_codes.h"

#define SAMPLES_PER_CLIENT (1u << 20)
#define MAX_CLIENTS 256

struct e2e_opts {
    struct bus_cli bus;
    const char *target, *method, *params_text;
    char *params;
    size_t params_len;
    unsigned clients;
    double seconds;
};

struct e2e_client {
    const struct e2e_opts *o;
    busrt_client *c;
    busrt_rpc *rpc;
    pthread_t thread;
    struct bench_samples samples;
    unsigned long long calls, failed;
    int first_error;
    uint64_t ns_end;
};

static pthread_barrier_t start_line;
static atomic_uint_fast64_t end_ns;

int harness_bench_bus_e2e_wanted(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--bus") || !strncmp(argv[i], "--bus=", 6))
            return 1;
    return 0;
}

void harness_bench_bus_e2e_usage(FILE *f)
{
    fputs("usage: abi-harness bench --bus PATH|HOST:PORT --target NAME --call METHOD [PARAMS]\n"
          "                         [--clients N] [--seconds S] [--qos 0-3] [--timeout S] [--name PREFIX]\n\n"
          "Calls METHOD of the service NAME through a running BUS/RT broker (any service: a native one, a\n"
          "library under eva-ffi or `abi-harness launch`) from N client connections, each making one call\n"
          "after the other for S seconds; all connect first, then start together.\n\n"
          "  --clients N    connections (threads), default 1 (1..256)\n"
          "  --seconds S    default 5\n"
          "  --qos 0-3      QoS of the request frames; default 1, what EVA ICS uses for its calls\n"
          "                 (eva-sdk eapi_bus::call: QoS::Processed). 3 = realtime + ack, 2 = realtime.\n"
          "  --timeout S    per call (default 5): a call past it counts as failed (TIMEOUT)\n"
          "  --name PREFIX  client names PREFIX.0 .. PREFIX.N-1 (default abi-harness.bench.<pid>)\n\n"
          "A failed call (an error reply included) is counted and reported; the figures count replies.\n"
          "The last line:\n"
          "  result: calls=.. seconds=.. calls_per_s=.. p50_ns=.. p99_ns=.. failed=..\n"
          "exit: 0; 1 when a call failed; 2 usage; 7 the broker refused a name; 8 no broker there.\n",
          f);
}

static int parse(struct e2e_opts *o, int argc, char **argv)
{
    if (bus_cli_wants_help(argc, argv)) {
        harness_bench_bus_e2e_usage(stdout);
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int r = bus_cli_option(&o->bus, "bench", argc, argv, &i);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--target") && v) {
            o->target = v;
            i++;
        } else if (!strcmp(a, "--call") && v) {
            o->method = v;
            i++;
            if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                o->params_text = argv[++i];
        } else if (!strcmp(a, "--clients") && v) {
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > MAX_CLIENTS) {
                fprintf(stderr, "abi-harness bench: --clients %s: use 1..%d\n", v, MAX_CLIENTS);
                return -1;
            }
            o->clients = (unsigned)n;
            i++;
        } else if (!strcmp(a, "--seconds") && v) {
            o->seconds = strtod(v, &end);
            if (*end || !(o->seconds > 0)) {
                fprintf(stderr, "abi-harness bench: --seconds %s: seconds > 0\n", v);
                return -1;
            }
            i++;
        } else {
            fprintf(stderr, "abi-harness bench: unexpected %s\n", a);
            return -1;
        }
    }
    if (!o->bus.bus || !o->target || !o->method) {
        fprintf(stderr, "abi-harness bench: give --bus, --target and --call\n");
        return -1;
    }
    return bus_cli_pack_params("bench", o->params_text, &o->params, &o->params_len);
}

static void *client_main(void *arg)
{
    struct e2e_client *cl = arg;
    const struct e2e_opts *o = cl->o;
    pthread_barrier_wait(&start_line);
    uint64_t until = atomic_load(&end_ns);
    for (;;) {
        uint64_t t0 = bench_now_ns();
        if (t0 >= until)
            break;
        busrt_buf r;
        int code = busrt_rpc_call(cl->rpc, o->target, o->method, o->params, o->params_len, o->bus.qos,
            o->bus.timeout, &r);
        uint64_t t1 = bench_now_ns();
        busrt_buf_free(&r);
        if (code == 0) {
            cl->calls++;
            bench_samples_add(&cl->samples, t1 - t0);
        } else {
            if (!cl->failed)
                cl->first_error = code;
            cl->failed++;
            /* the broker is gone: no point in spinning */
            if (code == BUSRT_ERR_IO)
                break;
        }
    }
    cl->ns_end = bench_now_ns();
    return NULL;
}

static void report(struct e2e_client *cls, unsigned n, uint64_t t_start)
{
    unsigned long long calls = 0, failed = 0;
    uint64_t t_end = t_start;
    struct bench_samples *sets[MAX_CLIENTS];
    int first_error = 0;
    for (unsigned i = 0; i < n; i++) {
        calls += cls[i].calls;
        failed += cls[i].failed;
        if (cls[i].ns_end > t_end)
            t_end = cls[i].ns_end;
        if (!first_error && cls[i].failed)
            first_error = cls[i].first_error;
        sets[i] = &cls[i].samples;
    }
    double p50, p99, secs = (double)(t_end - t_start) / 1e9;
    bench_percentiles(sets, n, &p50, &p99);
    if (failed) {
        const char *name = bus_cli_code_name(first_error);
        printf("failed: %llu calls (first: %d %s)\n", failed, first_error, name ? name : "unknown code");
    }
    printf("result: calls=%llu seconds=%.3f calls_per_s=%.0f p50_ns=%.0f p99_ns=%.0f failed=%llu\n", calls, secs,
        secs > 0 ? (double)calls / secs : 0, p50, p99, failed);
}

int harness_bench_bus_e2e_main(int argc, char **argv)
{
    bus_cli_unblock_signals();
    struct e2e_opts o = {.bus = {.qos = 1, .timeout = 5.0}, .clients = 1, .seconds = 5.0};
    int prc = parse(&o, argc, argv);
    if (prc != 0) {
        free(o.params);
        return prc > 0 ? HARNESS_EXIT_OK : HARNESS_EXIT_USAGE;
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "abi-harness.bench.%ld", (long)getpid());
    struct e2e_client *cls = calloc(o.clients, sizeof *cls);
    int rc = HARNESS_EXIT_OK;
    unsigned connected = 0;
    busrt_options bo;
    busrt_options_init(&bo);
    bo.timeout = o.bus.timeout;
    for (; connected < o.clients; connected++) {
        char name[320];
        snprintf(name, sizeof name, "%s.%u", o.bus.name ? o.bus.name : prefix, connected);
        struct e2e_client *cl = &cls[connected];
        cl->o = &o;
        if (!(cl->c = bus_cli_connect("bench", o.bus.bus, name, &bo, &rc)))
            break;
        cl->rpc = busrt_rpc_new(cl->c, NULL, NULL);
        bench_samples_init(&cl->samples, SAMPLES_PER_CLIENT);
    }
    if (rc == HARNESS_EXIT_OK) {
        printf("bench --bus %s: target=%s call=%s clients=%u qos=%d seconds=%.1f\n", o.bus.bus, o.target,
            o.method, o.clients, o.bus.qos, o.seconds);
        fflush(stdout);
        pthread_barrier_init(&start_line, NULL, o.clients + 1);
        for (unsigned i = 0; i < o.clients; i++)
            pthread_create(&cls[i].thread, NULL, client_main, &cls[i]);
        uint64_t t_start = bench_now_ns();
        atomic_store(&end_ns, t_start + (uint64_t)(o.seconds * 1e9));
        pthread_barrier_wait(&start_line);
        for (unsigned i = 0; i < o.clients; i++)
            pthread_join(cls[i].thread, NULL);
        pthread_barrier_destroy(&start_line);
        report(cls, o.clients, t_start);
        for (unsigned i = 0; i < o.clients; i++)
            if (cls[i].failed)
                rc = HARNESS_EXIT_FAILED;
    }
    for (unsigned i = 0; i < connected; i++) {
        busrt_rpc_free(cls[i].rpc);
        busrt_close(cls[i].c);
        bench_samples_destroy(&cls[i].samples);
    }
    free(cls);
    free(o.params);
    return rc;
}
