/* `abi-harness bench`: what a library costs per call (or per frame), alone
 * or against a second library in the same process, in alternating rounds.
 * See bench_options.c for the command line and the output lines. */
#ifndef HARNESS_BENCH_H
#define HARNESS_BENCH_H

#include <stdio.h>

/* argv after "bench"; returns the process exit code */
int harness_bench_main(int argc, char **argv);
void harness_bench_usage(FILE *f);

#endif
