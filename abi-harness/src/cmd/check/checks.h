/* The conformance checks, one file each (check/<id>.c), as the driver
 * (cmd/check.c) lists them. Each runs in a child of its own and ends with
 * harness_check_verdict(). */
#ifndef HARNESS_CHECKS_H
#define HARNESS_CHECKS_H

#include "check_child.h"

void harness_check_symbols(struct harness_check_child *ch);
void harness_check_abi_version(struct harness_check_child *ch);
void harness_check_init_info(struct harness_check_child *ch);
void harness_check_result_bounds(struct harness_check_child *ch);
void harness_check_thread_local_results(struct harness_check_child *ch);
void harness_check_not_ready(struct harness_check_child *ch);
/* forks a lifecycle per mode itself: its child has no mock core or bus */
void harness_check_result_modes(struct harness_check_child *ch);
void harness_check_method_bytes(struct harness_check_child *ch);
void harness_check_garbage_payloads(struct harness_check_child *ch);
void harness_check_frames(struct harness_check_child *ch);
void harness_check_terminate(struct harness_check_child *ch);
void harness_check_op_buffers(struct harness_check_child *ch);
/* runs with workers: 1 whatever the template says */
void harness_check_one_worker_lifecycle(struct harness_check_child *ch);

#endif
