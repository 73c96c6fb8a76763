/* abi-harness serve-test: a bare BUS/RT responder that answers `test`, so
 * a bench can measure the broker's own share of a call. */
#ifndef HARNESS_SERVE_TEST_H
#define HARNESS_SERVE_TEST_H

#include <stdio.h>

void harness_serve_test_usage(FILE *f);
int harness_serve_test_main(int argc, char **argv);

#endif
