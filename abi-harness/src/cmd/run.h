/* `abi-harness run`: launch a library, run the steps, stop it in order. */
#ifndef HARNESS_RUN_H
#define HARNESS_RUN_H

#include "options.h"

/* returns the process exit code */
int harness_run_main(struct harness_options *o);

#endif
