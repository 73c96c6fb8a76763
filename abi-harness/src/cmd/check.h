/* `abi-harness check`: ABI conformance checks, each in a forked child (a
 * fresh dlopen) with a time limit, so a crash or a hang in the library fails
 * that check and not the harness. Check ids are fixed (one file each in
 * check/, named after the id):
 *   symbols abi-version init-info result-bounds thread-local-results
 *   not-ready result-modes method-bytes garbage-payloads frames terminate
 *   op-buffers one-worker-lifecycle */
#ifndef HARNESS_CHECK_H
#define HARNESS_CHECK_H

#include "options.h"

int harness_check_main(struct harness_options *o);

#endif
