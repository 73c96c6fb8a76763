/* abi-harness call: one RPC call through a real BUS/RT broker. */
#ifndef HARNESS_BUS_CALL_H
#define HARNESS_BUS_CALL_H

#include <stdio.h>

void harness_call_usage(FILE *f);
/* argv: the arguments after "call"; returns the exit code */
int harness_call_main(int argc, char **argv);

#endif
