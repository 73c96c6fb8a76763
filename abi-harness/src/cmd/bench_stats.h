/* Figures of a bench: latency samples (bounded memory, allocated up front
 * so that they do not show in the RSS), percentiles, medians, the RSS. */
#ifndef HARNESS_BENCH_STATS_H
#define HARNESS_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Latencies in ns. When full, every other sample is dropped and from then
 * on only one new sample in `keep` is stored: a uniform thinning. */
struct bench_samples {
    uint32_t *v;
    size_t n, cap;
    unsigned keep, tick;
};

void bench_samples_init(struct bench_samples *s, size_t cap);
void bench_samples_destroy(struct bench_samples *s);
static inline void bench_samples_add(struct bench_samples *s, uint64_t ns)
{
    if (++s->tick < s->keep) return;
    s->tick = 0;
    if (s->n == s->cap) {
        for (size_t i = 0; i < s->cap / 2; i++) s->v[i] = s->v[2 * i];
        s->n = s->cap / 2;
        s->keep *= 2;
    }
    s->v[s->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* p in [0, 100] of all samples of several sets; 0 when there are none */
void bench_percentiles(struct bench_samples *const *sets, size_t count, double *p50, double *p99);
double bench_median(double *v, size_t n); /* sorts v */
/* the resident set size of this process in KiB, -1 when unknown */
long bench_rss_kib(void);
/* ns of the monotonic clock */
uint64_t bench_now_ns(void);
/* CPU time of the calling thread, ns */
uint64_t bench_thread_cpu_ns(void);

#endif
