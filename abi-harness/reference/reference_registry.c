/* Item states in the node registry: outgoing RPC calls (either
 * GET_RPC_RESULT mode), the restore at the first item call, the saver thread. */
#include "reference_service.h"

/* Outgoing RPC calls. The call buffer (target, NUL, method, NUL, params) is
 * built in the thread's pub buffer: rpc_begin writes the names and sets up a
 * packer for the params, rpc_finish makes the call and fetches the result. */
struct rpc_reply {
    int32_t code;        /* < 0: the call failed; 0: no payload; 1: obj is set */
    msgpack_object obj;  /* in the thread's zone; may point into the result */
    char *mine;          /* the buffer we allocated for GET_RPC_RESULT */
};

static int rpc_begin(struct tls_state *t, const char *target, const char *method, msgpack_packer *pk)
{
    sbuffer_trim(&t->pub);
    msgpack_packer_init(pk, &t->pub, msgpack_sbuffer_write);
    return msgpack_sbuffer_write(&t->pub, target, strlen(target) + 1) |
           msgpack_sbuffer_write(&t->pub, method, strlen(method) + 1);
}

/* Makes the call and reads its result in a way that works with either
 * GET_RPC_RESULT behaviour: the launcher may copy into our buffer, or repoint
 * data/len/max at its own copy (valid until this thread's next RPC_CALL). We
 * read len bytes from wherever data points afterwards and free only our own
 * buffer. Returns INVALID_DATA when a result cannot be decoded (or
 * SYSTEM_ERROR when out of memory), else EVA_OK with r->code set. Release r
 * with rpc_reply_free after use: r->obj may point into either buffer.
 * misread only matters in the BREAK_RESULT_MODE variant, where the result of
 * such a call (the registry read at prepare) is read the broken way. */
static int16_t rpc_finish(struct tls_state *t, const char *what, bool misread, struct rpc_reply *r)
{
    memset(r, 0, sizeof *r);
#ifndef BREAK_RESULT_MODE
    (void)misread;
#endif
    struct EvaFFIBuffer req = {.len = t->pub.size, .data = t->pub.data, .max = t->pub.alloc};
    int32_t n = op_call(EVA_FFI_SVC_OP_RPC_CALL, &req);
    if (n <= 0) {
        r->code = n;
        return EVA_OK;
    }
    r->mine = malloc((size_t)n);
    if (!r->mine)
        return EVA_ERR_CODE_SYSTEM_ERROR;
#ifdef BREAK_RESULT_MODE
    if (misread)
        memset(r->mine, 0xc1, (size_t)n); /* 0xc1 is never valid MessagePack */
#endif
    struct EvaFFIBuffer res = {.len = 0, .data = r->mine, .max = (size_t)n};
    int32_t rc = op_call(EVA_FFI_SVC_OP_GET_RPC_RESULT, &res);
    if (rc < 0) {
        log_warn("%s: GET_RPC_RESULT failed: %" PRId32, what, rc);
        r->code = rc;
        return EVA_OK;
    }
    const char *p = res.data;
    size_t len = res.len;
    if (p == r->mine && len > (size_t)n)
        len = 0; /* claims more than it could have written */
#ifdef BREAK_RESULT_MODE
    if (misread) {
        /* Broken: reads its own buffer even when the launcher repointed
         * data (so it works only when the launcher copies). */
        p = r->mine;
        len = (size_t)n;
    }
#endif
    if (!unpack_one(t, p, len, &r->obj)) {
        log_error("%s: the result (%zu bytes) is not valid MessagePack", what, len);
        return EVA_ERR_CODE_INVALID_DATA;
    }
    r->code = 1;
    return EVA_OK;
}

static void rpc_reply_free(struct tls_state *t, struct rpc_reply *r)
{
    msgpack_zone_clear(&t->zone);
    free(r->mine);
    r->mine = NULL;
}

/* eva.core test: the core must answer; what it says is only logged. */
static int16_t check_core(struct tls_state *t)
{
    msgpack_packer pk;
    if (rpc_begin(t, "eva.core", "test", &pk) != 0)
        return EVA_ERR_CODE_SYSTEM_ERROR;
#ifdef RELY_RPC_NO_NUL
    /* Relies on the launcher: no NUL after a method without params (the
     * official C++ SDK sends its calls so); the ABI text asks for one. */
    t->pub.size--;
#endif
    struct rpc_reply r;
    int16_t rc = rpc_finish(t, "eva.core test", false, &r);
    if (rc == EVA_OK) {
        if (r.code < 0) {
            log_warn("eva.core test failed: %" PRId32, r.code);
        } else if (r.code == 0) {
            log_debug("eva.core test: no payload");
        } else if (r.obj.type != MSGPACK_OBJECT_MAP) {
            log_warn("eva.core test: expected a map, got %s", obj_type_name(r.obj.type));
        } else {
            const msgpack_object *version = NULL;
            for (uint32_t i = 0; i < r.obj.via.map.size; i++)
                if (KEY_IS(&r.obj.via.map.ptr[i].key, "version") &&
                    r.obj.via.map.ptr[i].val.type == MSGPACK_OBJECT_STR)
                    version = &r.obj.via.map.ptr[i].val;
            if (version)
                log_debug("eva.core test: %" PRIu32 " fields, version %.*s", r.obj.via.map.size,
                          (int)(version->via.str.size > 64 ? 64 : version->via.str.size), version->via.str.ptr);
            else
                log_debug("eva.core test: %" PRIu32 " fields", r.obj.via.map.size);
        }
    }
    rpc_reply_free(t, &r);
    return rc;
}

/* Item states survive restarts through the node registry: key
 * eva/svc_data/<svc id>/items (g_registry_key) holds {oid: {status, value}}.
 * Read at prepare (NOT_FOUND: nothing saved yet), written at terminate. */

static void restore_entry(struct tls_state *t, const msgpack_object *k, const msgpack_object *v)
{
    size_t kind_len;
    if (k->type != MSGPACK_OBJECT_STR || !oid_valid(k->via.str.ptr, k->via.str.size, &kind_len) ||
        v->type != MSGPACK_OBJECT_MAP) {
        log_warn("registry: a saved item is not {OID: {status, value}}, skipped");
        return;
    }
    bool has_status = false;
    int16_t status = EVA_ITEM_STATUS_OK;
    const msgpack_object *value = NULL;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object *fk = &v->via.map.ptr[i].key;
        const msgpack_object *fv = &v->via.map.ptr[i].val;
        int64_t s;
        if (KEY_IS(fk, "status") && obj_int64(fv, &s) && s >= INT16_MIN && s <= INT16_MAX) {
            has_status = true;
            status = (int16_t)s;
        } else if (KEY_IS(fk, "value")) {
            value = fv;
        }
    }
    int32_t rc = item_update(t, k->via.str.ptr, k->via.str.size, kind_len, true, has_status, status, value);
    if (rc < 0)
        log_warn("registry: %.*s not restored: %" PRId32, (int)k->via.str.size, k->via.str.ptr, rc);
}

int16_t restore_items(struct tls_state *t)
{
    if (!g_registry_key)
        return EVA_OK;
    msgpack_packer pk;
    int e = rpc_begin(t, "eva.registry", "key_get", &pk);
    e |= msgpack_pack_map(&pk, 1) | pack_cstr(&pk, "key") | pack_cstr(&pk, g_registry_key);
    if (e != 0)
        return EVA_ERR_CODE_SYSTEM_ERROR;
    struct rpc_reply r;
    int16_t rc = rpc_finish(t, "registry key_get", true, &r);
    if (rc == EVA_OK) {
        if (r.code == EVA_ERR_CODE_NOT_FOUND || r.code == 0 ||
            (r.code > 0 && r.obj.type == MSGPACK_OBJECT_NIL)) {
            log_debug("registry: no saved items");
        } else if (r.code < 0) {
            log_warn("registry: key_get %s failed: %" PRId32 ", items not restored", g_registry_key, r.code);
        } else if (r.obj.type != MSGPACK_OBJECT_MAP) {
            log_warn("registry: %s is a %s, not a map; items not restored", g_registry_key,
                     obj_type_name(r.obj.type));
        } else {
            for (uint32_t i = 0; i < r.obj.via.map.size; i++)
                restore_entry(t, &r.obj.via.map.ptr[i].key, &r.obj.via.map.ptr[i].val);
            log_info("registry: %" PRIu32 " items restored", r.obj.via.map.size);
        }
    }
    rpc_reply_free(t, &r);
    return rc;
}

void save_items(struct tls_state *t)
{
    if (!g_registry_key)
        return;
    msgpack_packer pk;
    int e = rpc_begin(t, "eva.registry", "key_set", &pk);
    e |= msgpack_pack_map(&pk, 2) | pack_cstr(&pk, "key") | pack_cstr(&pk, g_registry_key) | pack_cstr(&pk, "value");
    pthread_rwlock_rdlock(&g_items.lock);
    size_t count = g_items.count;
    e |= msgpack_pack_map(&pk, count);
    for (size_t i = 0; i < count && e == 0; i++) {
        struct item *it = g_items.sorted[i];
        pthread_mutex_lock(&it->mu);
        e |= pack_strn(&pk, it->text, it->oid_len) | msgpack_pack_map(&pk, 2) | pack_strn(&pk, "status", 6) |
             msgpack_pack_int16(&pk, it->status) | pack_strn(&pk, "value", 5) | pack_value(&pk, it);
        pthread_mutex_unlock(&it->mu);
    }
    pthread_rwlock_unlock(&g_items.lock);
    if (e != 0) {
        log_error("registry: out of memory, items not saved");
        return;
    }
    struct rpc_reply r;
    if (rpc_finish(t, "registry key_set", false, &r) == EVA_OK && r.code < 0)
        log_warn("registry: key_set %s failed: %" PRId32 ", items not saved", g_registry_key, r.code);
    else
        log_debug("registry: %zu items saved", count);
    rpc_reply_free(t, &r);
}

/* fail_mode + react_to_fail: every configured item goes to status -1. */
void mark_items_failed(struct tls_state *t)
{
    pthread_rwlock_rdlock(&g_items.lock);
    for (size_t i = 0; i < g_items.count; i++) {
        struct item *it = g_items.sorted[i];
        pthread_mutex_lock(&it->mu);
        it->status = EVA_ITEM_STATUS_ERROR;
        int32_t rc = publish_state(t, it);
        pthread_mutex_unlock(&it->mu);
        if (rc < 0)
            log_warn("%s: RAW event not published: %" PRId32, it->text, rc);
    }
    pthread_rwlock_unlock(&g_items.lock);
}

/* The first item call after svc_prepare (on a call thread, never on the
 * launcher's) checks the core and restores the saved items; the calls that
 * arrive meanwhile wait for it. Its outcome answers every later item call:
 * a failed read leaves the service unusable, as a failed prepare would. */
int32_t ensure_restored(struct tls_state *t)
{
    if (atomic_load_explicit(&g_restored, memory_order_acquire))
        return g_restore_rc;
    pthread_mutex_lock(&g_restore_mu);
    if (!atomic_load_explicit(&g_restored, memory_order_relaxed)) {
        int16_t rc = check_core(t);
        if (rc == EVA_OK)
            rc = restore_items(t);
        if (rc == EVA_OK && g_fail_mode && g_react_to_fail)
            mark_items_failed(t); /* the saved states were restored over them */
        g_restore_rc = rc;
        atomic_store_explicit(&g_restored, true, memory_order_release);
        /* the configured items join the saved ones in the registry */
        if (rc == EVA_OK)
            mark_dirty();
    }
    int32_t rc = g_restore_rc;
    pthread_mutex_unlock(&g_restore_mu);
    return rc;
}

static void save_wake(void)
{
    pthread_mutex_lock(&g_save_mu);
    pthread_cond_signal(&g_save_cv);
    pthread_mutex_unlock(&g_save_mu);
}

/* A change to save: only the first change after a save wakes the saver. */
void mark_dirty(void)
{
    if (g_registry_key && !atomic_exchange(&g_save_dirty, true))
        save_wake();
}

/* Saves after changes, at most every 50 ms. With workers >= 2 it makes the
 * last save while svc_terminate waits for it; with one worker svc_terminate
 * cannot wait for an RPC_CALL, so it stops the saver without a last save. */
void *saver_main(void *arg)
{
    (void)arg;
    struct tls_state *t = tls_get();
    for (;;) {
        pthread_mutex_lock(&g_save_mu);
        while (!g_save_quit && !atomic_load(&g_save_dirty))
            pthread_cond_wait(&g_save_cv, &g_save_mu);
        bool quit = g_save_quit;
        /* the last save is made only where svc_terminate can wait for it */
        g_save_busy = !quit || (g_workers >= 2 && atomic_load(&g_save_dirty));
        bool save = g_save_busy;
        pthread_mutex_unlock(&g_save_mu);
        if (!save)
            break;
        atomic_store(&g_save_dirty, false);
        /* nothing restored yet: nothing to overwrite the registry with */
        if (t && atomic_load_explicit(&g_restored, memory_order_acquire) && g_restore_rc == EVA_OK)
            save_items(t);
        pthread_mutex_lock(&g_save_mu);
        g_save_busy = false;
        pthread_mutex_unlock(&g_save_mu);
        if (quit)
            break;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 50000000}, NULL);
    }
    if (t)
        tls_release(t);
    return NULL;
}
