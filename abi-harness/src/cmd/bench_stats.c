#include "bench_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

void bench_samples_init(struct bench_samples *s, size_t cap)
{
    s->cap = cap < 2 ? 2 : cap & ~(size_t)1;
    s->v = harness_xmalloc(s->cap * sizeof *s->v);
    memset(s->v, 0, s->cap * sizeof *s->v); /* touched now: the RSS does not grow later */
    s->n = 0;
    s->keep = 1;
    s->tick = 0;
}

void bench_samples_destroy(struct bench_samples *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int bench_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void bench_percentiles(struct bench_samples *const *sets, size_t count, double *p50, double *p99)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++) total += sets[i]->n;
    *p50 = *p99 = 0;
    if (!total) return;
    uint32_t *all = harness_xmalloc(total * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(all + k, sets[i]->v, sets[i]->n * sizeof *all);
        k += sets[i]->n;
    }
    qsort(all, total, sizeof *all, bench_cmp_u32);
    *p50 = all[(total - 1) * 50 / 100];
    *p99 = all[(total - 1) * 99 / 100];
    free(all);
}

double bench_median(double *v, size_t n)
{
    if (!n) return 0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

long bench_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size, resident;
    int ok = fscanf(f, "%ld %ld", &size, &resident) == 2;
    fclose(f);
    return ok ? resident * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
