/* What every conformance check works with. The driver (cmd/check.c) forks
 * one child per check; in the child, a check drives the library through
 * harness_check_launch() up to the stage it needs, reports its stages (so a
 * crash or a hang can be placed) and ends with exactly one verdict, which
 * exits the child. */
#ifndef HARNESS_CHECK_CHILD_H
#define HARNESS_CHECK_CHILD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "info_methods.h"
#include "initial_payload.h"
#include "mock_core.h"
#include "options.h"
#include "rpc_pool.h"
#include "service.h"
#include "strbuf.h"

/* FAIL: breaks or hangs on a node; WARN: breaks the ABI text but the
 * launcher accepts it; PASS otherwise; SKIP: nothing to check */
enum harness_verdict { HARNESS_PASS, HARNESS_WARN, HARNESS_FAIL, HARNESS_SKIP };

/* what every child gets from the parent (built before the forks) */
struct harness_check_ctx {
    struct harness_options *o;
    const char *lib_path;
    struct harness_initial initial;
    struct harness_initial initial_one_worker; /* the same with workers: 1 */
    int one_worker;                            /* this child uses initial_one_worker */
};

/* the initial payload this child hands the library */
const struct harness_initial *harness_check_initial(const struct harness_check_ctx *ctx);

/* one child's working state */
struct harness_check_child {
    struct harness_check_ctx *ctx;
    int fd;
    struct harness_mock_core core;
    struct harness_service svc;
    atomic_int terminate_asked;
    struct harness_check_methods methods;
    pthread_t main_thread;
    int env_ready;
};

/* ---------------------------------------------------------- reporting
 * The child writes "stage TEXT" and "result VERDICT TEXT" lines to the
 * driver's pipe; the last stage names where a crash or hang happened. */

void harness_check_stage(struct harness_check_child *ch, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* the verdict ends the child (_exit, after joining the harness's threads
 * when nothing of the library runs on this one) */
void harness_check_verdict(struct harness_check_child *ch, enum harness_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* "code N payload {...}" for a verdict's text, the payload cut at 120 chars */
void harness_check_describe_reply(struct harness_strbuf *sb, const struct harness_reply *r);

/* ------------------------------------------------------------ set-up */

/* mock core and bus (not connected) for a child; POC and hangs become
 * verdicts; persist: the core's registry is saved at the end */
void harness_check_env(struct harness_check_child *ch, struct harness_check_ctx *ctx, int fd,
                       enum harness_result_mode mode, const char *registry, int persist);

/* how far harness_check_launch drives the library */
enum harness_check_upto {
    HARNESS_UPTO_LOADED,
    HARNESS_UPTO_OPFN,
    HARNESS_UPTO_INIT,   /* svc_init + info fetched */
    HARNESS_UPTO_BUS,    /* bus connected, routing on, before svc_prepare */
    HARNESS_UPTO_READY,  /* svc_prepare, ready, svc_launch */
};

/* the launcher's steps up to upto; any failure on the way is a FAIL verdict */
void harness_check_launch(struct harness_check_child *ch, enum harness_check_upto upto);
/* svc_init as the launcher calls it: a buffer whose max is larger than len */
int32_t harness_check_svc_init(struct harness_check_child *ch);
/* SKIP unless the library exports svc_on_rpc_call */
void harness_check_need_rpc(struct harness_check_child *ch);

/* ------------------------------------------------------- candidate calls */

/* a call built from the methods the info lists; thread-local-results also
 * records the reply it gave twice in a row */
struct harness_check_call {
    const char *method;
    size_t method_len;
    const char *payload;
    size_t payload_len;
    int32_t code;
    char *bytes;
    size_t len;
    int has_payload;
};

/* each listed method (not stop) with no payload, with {} and with each
 * listed param alone; with_builtin adds test and info (else left out) */
size_t harness_check_candidates(struct harness_check_child *ch, struct harness_check_call **out, int with_builtin);

#endif
