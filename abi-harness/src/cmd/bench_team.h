/* The bench threads: started once and kept for every round of every
 * library (so per-thread state in a library, its result buffer and the like,
 * is warm after the warmup and a round measures calls, not thread starts).
 * Each thread calls the library itself, the way a launcher pool thread does:
 * svc_on_rpc_call, then eva_svc_get_result with a buffer of exactly the
 * returned size (or svc_on_frame in frame mode). */
#ifndef HARNESS_BENCH_TEAM_H
#define HARNESS_BENCH_TEAM_H

#include <stdint.h>

#include "bench_options.h"
#include "bench_stats.h"
#include "bench_target.h"
#include "bench_workload.h"

/* one round on every thread */
struct bench_job {
    struct bench_target *target;
    int slot;             /* which set of latency samples (0 A, 1 B) */
    unsigned threads;     /* how many of the team's threads take part */
    uint64_t iterations;  /* per thread; 0: run for duration_ns */
    uint64_t duration_ns; /* the round's length: every thread stops at the same moment */
    int measure;          /* keep latency samples */
};

struct bench_round_result {
    uint64_t start_ns, end_ns; /* first thread start, last thread end */
    uint64_t cpu_ns;           /* CPU time the threads got, together */
    uint64_t calls;            /* calls or frames */
    uint64_t iterations;
    uint64_t accepted;         /* successful action/run calls */
    /* the first failure, when failed */
    int failed;
    int32_t code;
    const char *stage;         /* "svc_on_rpc_call", "eva_svc_get_result", ... */
    const struct bench_call *call;
};

struct bench_team;

/* wb: B's workload (--vs-call), NULL when B makes A's calls */
struct bench_team *bench_team_start(unsigned threads, const struct bench_workload *w, const struct bench_workload *wb,
                                    const struct bench_options *o);
void bench_team_run(struct bench_team *team, const struct bench_job *job, struct bench_round_result *out);
/* the latency samples of every thread in this slot */
void bench_team_percentiles(struct bench_team *team, int slot, double *p50, double *p99);
/* the RSS noted when the calls made so far (all rounds) reached --rss-at; -1 when not yet */
long bench_team_rss_at(struct bench_team *team);
void bench_team_stop(struct bench_team *team);

/* one call as a launcher thread makes it; 0, or a negative code with *stage
 * set. res/res_cap: a buffer this thread keeps (grown as needed); the reply
 * is then at res[0..*reply_len). payload: the call's payload (a copy when it
 * has fresh uuids). */
int32_t bench_call_once(const struct harness_lib *lib, const char *sender, const struct bench_call *c,
                        char *payload, char **res, size_t *res_cap, size_t *reply_len, const char **stage);

#endif
