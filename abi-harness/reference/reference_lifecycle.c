/* svc_prepare, svc_launch and svc_terminate. */
#include "reference_service.h"

EXPORT int16_t svc_prepare(void)
{
    struct tls_state *t = tls_get();
    if (!t)
        return EVA_ERR_CODE_SYSTEM_ERROR;
    atomic_store(&g_bus_up, true);
#ifdef BREAK_PREPARE_RPC
    /* Broken: reads the registry right here, on the launcher's thread. Fine
     * with workers >= 2; hangs a one-worker EVA ICS 4.2 node. */
    pthread_mutex_lock(&g_restore_mu);
    g_restore_rc = restore_items(t);
    atomic_store(&g_restored, true);
    pthread_mutex_unlock(&g_restore_mu);
    if (g_restore_rc != EVA_OK)
        return (int16_t)g_restore_rc;
#endif
#if defined(RELY_SUBSCRIBE_NO_NUL)
    /* Relies on the launcher: the last topic needs no NUL (as the C++ SDK
     * sends it). */
    static const char topics[] = {'S', 'V', 'C', '/', 'S', 'T'};
#elif defined(BREAK_EMPTY_TOPIC)
    /* Broken: an empty topic after SVC/ST: the real launcher loops for ever. */
    static const char topics[] = "SVC/ST\0";
#endif
#if defined(RELY_SUBSCRIBE_NO_NUL) || defined(BREAK_EMPTY_TOPIC)
    {
        struct EvaFFIBuffer b = {.len = sizeof topics, .data = (char *)topics, .max = sizeof topics};
        int32_t src = op_call(EVA_FFI_SVC_OP_SUBSCRIBE_TOPIC, &b);
        if (src != EVA_OK)
            log_warn("subscribe SVC/ST: %" PRId32, src);
    }
#endif
#ifdef RELY_PROBE
    probe_prepare();
#endif
    if (g_fail_mode) {
        if (g_react_to_fail)
            mark_items_failed(t);
        else
            log_warn("fail_mode is set without react_to_fail");
    }
    atomic_store(&g_ready, true);
    log_info("ready, %zu items", g_items.count);
    return EVA_OK;
}

#ifdef BREAK_TERMINATE
/* Broken: a publisher thread that is never stopped or joined, and that calls
 * the op function directly. */
static void *chatter(void *arg)
{
    (void)arg;
    static char buf[] = "RAW/lvar/reference/chatter\0\x82\xa6status\x01\xa5value\xc0";
    for (;;) {
        eva_ffi_op_fn f = atomic_load(&g_op_fn);
        struct EvaFFIBuffer b = {.len = sizeof buf - 1, .data = buf, .max = sizeof buf - 1};
        if (f)
            f(EVA_FFI_SVC_OP_PUBLISH_TOPIC, &b);
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 5000000}, NULL);
    }
    return NULL;
}
#endif

EXPORT int16_t svc_launch(void)
{
    if (g_registry_key && !g_saver_up) {
        pthread_mutex_lock(&g_save_mu);
        g_save_quit = false;
        pthread_mutex_unlock(&g_save_mu);
        g_saver_up = pthread_create(&g_saver, NULL, saver_main, NULL) == 0;
        if (!g_saver_up)
            log_warn("registry: no saver thread, item states will not be saved");
    }
#ifdef RELY_PROBE
    probe_launch();
#endif
#ifdef RELY_EARLY_RAW
    /* Relies on nothing: publishes every item's state before the core is
     * active (the core drops these events; a node's core never learns them). */
    {
        struct tls_state *t = tls_get();
        size_t n = 0;
        pthread_rwlock_rdlock(&g_items.lock);
        for (size_t i = 0; t && i < g_items.count; i++) {
            struct item *it = g_items.sorted[i];
            pthread_mutex_lock(&it->mu);
            if (publish_state(t, it) == EVA_OK)
                n++;
            pthread_mutex_unlock(&it->mu);
        }
        pthread_rwlock_unlock(&g_items.lock);
        log_info("published %zu item states in svc_launch", n);
    }
#endif
#ifdef BREAK_TERMINATE
    pthread_t th;
    if (pthread_create(&th, NULL, chatter, NULL) == 0)
        pthread_detach(th);
#endif
    return EVA_OK;
}

EXPORT int16_t svc_terminate(void)
{
    /* from here on methods answer NOT_READY */
    bool was_ready = atomic_exchange(&g_ready, false);
    log_info("terminating");
#ifdef RELY_PROBE
    probe_terminate();
#endif
    (void)was_ready;
    if (g_saver_up) {
        pthread_mutex_lock(&g_save_mu);
        g_save_quit = true;
        pthread_cond_signal(&g_save_cv);
        bool saving = g_save_busy;
        pthread_mutex_unlock(&g_save_mu);
        /* With one worker a save under way cannot end while we are here (the
         * launcher's only thread is ours): leave the saver to finish after
         * we return. Otherwise wait for it, and for its last save. */
        if (g_workers <= 1 && saving) {
            g_saver_detached = true;
            pthread_detach(g_saver);
        } else {
            pthread_join(g_saver, NULL);
        }
        g_saver_up = false;
    }
#ifdef BREAK_PREPARE_RPC
    /* Broken: an RPC_CALL on the launcher's thread (see svc_prepare). */
    struct tls_state *t = tls_get();
    if (was_ready && t && atomic_load(&g_restored) && g_restore_rc == EVA_OK)
        save_items(t);
#endif
    atomic_store(&g_stopped, true);
    /* wait until op calls already under way (on other threads) are over, so
     * that none is made after this returns */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    double limit = g_shutdown_timeout / 2;
    int others = tls.op_depth + (atomic_load(&g_saver_detached) ? 1 : 0);
    while (atomic_load(&g_op_inflight) > others) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 > limit)
            break;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 100000}, NULL);
    }
    return EVA_OK;
}
