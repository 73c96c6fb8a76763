/* Command line of `abi-harness bench`. Kept apart from options.c: bench
 * drives one or two libraries in one process and has options of its own
 * (threads, duration, rounds, the second library). */
#ifndef HARNESS_BENCH_OPTIONS_H
#define HARNESS_BENCH_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "rpc_result.h"

/* one --call (METHOD [PARAMS]) or --frame (TOPIC PAYLOAD) */
struct bench_cli_item {
    const char *name;
    const char *text; /* NULL: no payload (calls only) */
};

struct bench_options {
    const char *lib_path;      /* A */
    const char *config_path;   /* A's service template */
    const char *vs_path;       /* B, or NULL */
    const char *vs_config;     /* B's service template (default: A's) */
    struct bench_cli_item *calls;
    size_t call_count;
    struct bench_cli_item *vs_calls; /* --vs-call: B's own calls (default: A's) */
    size_t vs_call_count;
    const char *data_path;      /* --data-path: A's data_path (B's: DIR-vs), kept; default a fresh folder */
    const char *library_output; /* where the libraries' stdout/stderr go (default a temp file) */
    struct bench_cli_item frame; /* frame mode when frame.name is set */
    unsigned threads;
    unsigned vs_threads;       /* threads of B (0: as A); without --vs, B is A itself */
    double seconds;            /* measured time per library (split over the rounds) */
    unsigned long long count;  /* or: calls (frames) per library, split over rounds and threads */
    unsigned rounds;           /* default 1, or 10 with --vs */
    double warmup;             /* seconds per library before the first round */
    unsigned sample_every;     /* time one call in N */
    unsigned long long rss_at; /* print RSS once this many calls were made (0: no) */
    double action_wait;        /* how long to wait for terminal ACT events per round */
    int log_level;             /* core.log_level and the stderr filter of library logs */
    const char *svc_id;
    const char *sender;
    enum harness_result_mode result_mode;
    int quiet;                 /* no per-round lines */
    long workers;              /* --workers, -1: the template's */
};

/* where the bench's result lines go: a private duplicate of stdout, so that
 * fd 1 can take the libraries' own output (bench.c) */
extern FILE *bench_results;
#define bench_printf(...) fprintf(bench_results ? bench_results : stdout, __VA_ARGS__)

/* 0, 1 when help was printed, -1 after printing an error */
int bench_options_parse(struct bench_options *o, int argc, char **argv);
void bench_options_free(struct bench_options *o);
void bench_options_usage(FILE *f);

#endif
