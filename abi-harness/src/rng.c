#include "rng.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void harness_rng_seed(struct harness_rng *rng, uint64_t seed)
{
    rng->state = seed;
}

uint64_t harness_rng_next(struct harness_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t harness_rng_below(struct harness_rng *rng, uint64_t n)
{
    return n ? harness_rng_next(rng) % n : 0;
}

double harness_rng_unit(struct harness_rng *rng)
{
    return (double)(harness_rng_next(rng) >> 11) / 9007199254740992.0;
}

void harness_rng_fill(struct harness_rng *rng, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        uint64_t v = harness_rng_next(rng);
        size_t n = len < 8 ? len : 8;
        memcpy(p, &v, n);
        p += n;
        len -= n;
    }
}

uint64_t harness_rng_os_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) == (ssize_t)sizeof seed) return seed;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
}
