/* The runtime rule: which thread may do what while the launcher is inside a
 * lifecycle callback. The launcher runs on the async runtime that eva4-sdk
 * builds from initial.workers: since eva4-sdk 0.4.3 (EVA ICS 4.2),
 * workers <= 1 gives a one-thread runtime, so while svc_init, svc_prepare,
 * svc_launch or svc_terminate runs on it, the bus task cannot run: no RPC_CALL
 * returns and no call or frame is routed. A call made on the callback's own
 * thread never returns at all; one made on another thread waits for the
 * callback to return, and hangs too when the callback waits for that thread.
 * The harness reports such a call ("hangs on a 4.2 node: ...") instead of
 * hanging, and ends with HARNESS_EXIT_HANG. */
#ifndef HARNESS_RUNTIME_H
#define HARNESS_RUNTIME_H

#include "strbuf.h"

/* a call or op that never returns on a node, as on_hang gets it */
struct harness_hang {
    const char *report; /* the whole line, as logged: "hangs on a 4.2 node: ..." */
    /* when only the one-thread runtime (workers <= 1) hangs on it: what
     * hangs, "RPC_CALL eva.core test during svc_launch"; NULL when it hangs
     * a node whatever workers is (an empty topic) */
    const char *one_thread_call;
};

/* workers from the initial payload; on_hang gets the hang (it must not
 * return: run exits 6, check writes a verdict) */
void harness_runtime_init(unsigned workers, void (*on_hang)(void *ud, const struct harness_hang *hang), void *ud);
unsigned harness_runtime_workers(void);
int harness_runtime_one_thread(void);
/* a lifecycle callback starts/ends on the calling thread; a call from
 * another thread that waits longer than hang_after seconds for it counts as
 * hanging (the node would kill the service by then) */
void harness_runtime_enter(const char *callback, double hang_after);
void harness_runtime_leave(void);
/* the callback running now, or NULL */
const char *harness_runtime_callback(void);
/* before an RPC_CALL reaches the bus: returns when the call can be served;
 * reports a hang (and does not return) when it never could be */
void harness_runtime_before_rpc(const char *target, size_t target_len, const char *method, size_t method_len);
/* something that never returns on a node whatever workers is (an empty
 * topic): reported, then on_hang; does not return */
void harness_runtime_report_hang(const char *report) __attribute__((noreturn));
/* a routed call or frame about to enter the library: waits while a
 * callback holds the one-thread runtime */
void harness_runtime_before_route(void);

#endif
