/* The service's global state (set by svc_init, the lifecycle and the
 * registry thread), the op function export, and unloading. */
#include "reference_service.h"

_Atomic(eva_ffi_op_fn) g_op_fn;
atomic_bool g_bus_up;     /* svc_prepare has started: LOG ops work */
atomic_bool g_ready;      /* svc_prepare has finished */
atomic_bool g_stopped;    /* svc_terminate has been called */
atomic_int g_op_inflight; /* op calls under way (for svc_terminate) */
atomic_int g_log_level = EVA_LOG_LEVEL_INFO;

/* Set by svc_init, read-only afterwards. */
bool g_auto_create;
bool g_fail_mode;
bool g_react_to_fail;
double g_shutdown_timeout = 5.0;
int64_t g_workers = 1;   /* initial.workers: <= 1 is a one-thread launcher */
char *g_info;
size_t g_info_len;
char *g_registry_key; /* eva/svc_data/<id>/items; NULL without an id */

/* The registry: restored by the first item call after svc_prepare, saved by a
 * saver thread after changes (never from a lifecycle callback: on a one-worker
 * EVA ICS 4.2 node an RPC_CALL made there never returns). */
pthread_mutex_t g_restore_mu = PTHREAD_MUTEX_INITIALIZER;
atomic_bool g_restored;   /* the first item call has read the registry */
int32_t g_restore_rc;     /* its outcome (guarded by g_restore_mu) */
pthread_mutex_t g_save_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_save_cv = PTHREAD_COND_INITIALIZER;
atomic_bool g_save_dirty; /* a change not saved yet */
bool g_save_quit;         /* guarded by g_save_mu */
bool g_save_busy;         /* the saver is saving (guarded by g_save_mu) */
bool g_saver_up;          /* the saver thread exists (lifecycle thread only) */
pthread_t g_saver;
atomic_bool g_saver_detached; /* left to end its save after svc_terminate */

/* Runs at dlclose (and at exit). The pthread key goes, or its destructor
 * would point at unmapped code (threads that exit later leak their buffers
 * instead). The items and the info are freed only after svc_terminate: from
 * then on every call answers NOT_READY without touching them, so this cannot
 * race with a late call even when it runs at exit. */
__attribute__((destructor)) static void reference_unload(void)
{
    if (g_tls_key_ok) {
        pthread_key_delete(g_tls_key);
        g_tls_key_ok = false;
    }
    if (atomic_load(&g_stopped)) state_release();
}

void state_release(void)
{
    table_clear();
    free(g_info);
    g_info = NULL;
    g_info_len = 0;
    free(g_registry_key);
    g_registry_key = NULL;
}

EXPORT int16_t eva_svc_set_op_fn(uint16_t abi_version, eva_ffi_op_fn f)
{
#ifndef BREAK_ABI_VERSION
    if (abi_version != EVA_FFI_ABI_VERSION)
        return EVA_ERR_CODE_UNSUPPORTED;
#else
    (void)abi_version; /* Broken: any version is accepted. */
#endif
    atomic_store(&g_op_fn, f);
#ifdef RELY_PROBE
    probe_set_op(f);
#endif
    return EVA_OK;
}
