/* abi-harness bench --bus: calls through a real BUS/RT broker to any
 * service on it, N client connections each calling in sequence. (The
 * in-process bench is bench.c; bench_bus.c is its modelled bus.) */
#ifndef HARNESS_BENCH_BUS_E2E_H
#define HARNESS_BENCH_BUS_E2E_H

#include <stdio.h>

/* 1 when the bench arguments ask for the bus bench (a --bus option) */
int harness_bench_bus_e2e_wanted(int argc, char **argv);
void harness_bench_bus_e2e_usage(FILE *f);
int harness_bench_bus_e2e_main(int argc, char **argv);

#endif
