/* check frames: the launcher hands frames to svc_on_frame from many
 * threads at once, in no order; garbage frames (random and subscribed
 * topics, non-map, empty and NULL payloads) from 4 threads must not crash
 * the library. */
#include "checks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "bus.h"
#include "check_cases.h"
#include "clock.h"
#include "rng.h"
#include "topic.h"

struct harness_fr_shared {
    struct harness_check_child *ch;
    char **subs;
    size_t sub_count;
    double deadline;
    atomic_ulong sent;
};

struct harness_fr_thread {
    struct harness_fr_shared *sh;
    unsigned index;
    pthread_t thread;
};

static void *harness_fr_main(void *arg)
{
    struct harness_fr_thread *th = arg;
    struct harness_fr_shared *sh = th->sh;
    struct harness_rng rng;
    harness_rng_seed(&rng, sh->ch->ctx->o->seed ^ (0x9e37u * (th->index + 1)));
    while (harness_clock_now() < sh->deadline && atomic_load(&sh->sent) < 200000) {
        struct harness_check_frame f;
        harness_check_frame_make(&f, &rng, sh->subs, sh->sub_count);
        struct EvaFFIFrame fr = {f.kind, f.sender, f.topic, f.payload_len, f.payload};
        sh->ch->svc.lib.on_frame(&fr);
        harness_check_frame_free(&f);
        atomic_fetch_add(&sh->sent, 1);
    }
    return NULL;
}

void harness_check_frames(struct harness_check_child *ch)
{
    harness_check_launch(ch, HARNESS_UPTO_READY);
    if (!ch->svc.lib.on_frame) harness_check_verdict(ch, HARNESS_SKIP, "the library exports no svc_on_frame");
    struct harness_fr_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.ch = ch;
    sh.subs = harness_topic_set_list(harness_bus_subscriptions(), &sh.sub_count);
    double budget = ch->ctx->o->time_limit / 4;
    sh.deadline = harness_clock_now() + (budget < 2 ? budget : 2);
    enum { THREADS = 4 };
    struct harness_fr_thread th[THREADS];
    harness_check_stage(ch, "garbage frames from %d threads", THREADS);
    for (unsigned i = 0; i < THREADS; i++) {
        th[i].sh = &sh;
        th[i].index = i;
        pthread_create(&th[i].thread, NULL, harness_fr_main, &th[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) pthread_join(th[i].thread, NULL);
    harness_check_verdict(ch, HARNESS_PASS, "%lu garbage frames from %d threads (random topics%s, non-map, empty and "
                                            "NULL payloads): no crash",
                          atomic_load(&sh.sent), THREADS, sh.sub_count ? " and the subscribed ones" : "");
}
