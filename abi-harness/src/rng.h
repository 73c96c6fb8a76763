/* A small seeded PRNG (splitmix64). Fault injection and the check's garbage
 * generators need reproducible sequences (--seed), not crypto quality. */
#ifndef HARNESS_RNG_H
#define HARNESS_RNG_H

#include <stddef.h>
#include <stdint.h>

struct harness_rng {
    uint64_t state;
};

void harness_rng_seed(struct harness_rng *rng, uint64_t seed);
uint64_t harness_rng_next(struct harness_rng *rng);
/* uniform in [0, n) (n > 0) */
uint64_t harness_rng_below(struct harness_rng *rng, uint64_t n);
/* uniform in [0, 1) */
double harness_rng_unit(struct harness_rng *rng);
void harness_rng_fill(struct harness_rng *rng, void *buf, size_t len);
/* a seed from the OS, for runs without --seed */
uint64_t harness_rng_os_seed(void);

#endif
