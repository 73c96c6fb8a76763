/* check one-worker-lifecycle: the whole lifecycle on the one-thread
 * runtime of EVA ICS 4.2 (workers: 1, what a template without workers
 * gets). An RPC_CALL inside a lifecycle callback never returns there: the
 * runtime model reports it and the hang hook (check_child.c) gives the
 * verdict, FAIL when the template runs the library that way, PASS saying
 * what workers: 1 would do when the template sets workers >= 2. */
#include "checks.h"

#include "clock.h"

void harness_check_one_worker_lifecycle(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    /* let the library's own threads run a while (they may call out) */
    harness_check_stage(ch, "running with workers: 1");
    harness_clock_sleep(1.0);
    harness_check_stage(ch, "stop (svc_terminate with workers: 1)");
    int rc = harness_service_shutdown(&ch->svc);
    if (rc) harness_check_verdict(ch, HARNESS_FAIL, "svc_terminate failed with workers: 1");
    harness_check_verdict(ch, HARNESS_PASS, "svc_init, svc_prepare, svc_launch and svc_terminate made no RPC_CALL that "
                                            "would hang a one-worker EVA ICS 4.2 node");
}
