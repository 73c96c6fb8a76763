/* Per-thread state (result, scratch and publish buffers, the MessagePack
 * zone) and the result every call leaves for eva_svc_get_result. */
#include "reference_service.h"

_Thread_local struct tls_state tls;
pthread_key_t g_tls_key;
static pthread_once_t g_tls_once = PTHREAD_ONCE_INIT;
bool g_tls_key_ok;

void tls_release(void *p)
{
    struct tls_state *t = p;
    msgpack_sbuffer_destroy(&t->out);
    msgpack_sbuffer_destroy(&t->scratch);
    msgpack_sbuffer_destroy(&t->pub);
    if (t->zone_ok)
        msgpack_zone_destroy(&t->zone);
    memset(t, 0, sizeof *t);
}

static void tls_key_create(void)
{
    g_tls_key_ok = pthread_key_create(&g_tls_key, tls_release) == 0;
}

/* The calling thread's state, its zone ready for use. NULL only when out of
 * memory. */
struct tls_state *tls_get(void)
{
    struct tls_state *t = &tls;
    if (!t->registered) {
        pthread_once(&g_tls_once, tls_key_create);
        if (g_tls_key_ok)
            pthread_setspecific(g_tls_key, t);
        t->registered = true;
    }
    if (!t->zone_ok) {
        if (!msgpack_zone_init(&t->zone, ZONE_CHUNK))
            return NULL;
        t->zone_ok = true;
    }
    return t;
}

void sbuffer_trim(msgpack_sbuffer *b)
{
    if (b->alloc > KEEP_BUFFER_MAX) {
        msgpack_sbuffer_destroy(b);
        msgpack_sbuffer_init(b);
    }
    msgpack_sbuffer_clear(b);
}

#ifdef BREAK_GLOBAL_RESULT
/* Broken: one result buffer for the whole process. */
static pthread_mutex_t g_shared_mu = PTHREAD_MUTEX_INITIALIZER;
static msgpack_sbuffer g_shared_out;
#endif

/* Starts a call that may leave a result: the previous result is dropped. */
void result_begin(struct tls_state *t)
{
    sbuffer_trim(&t->out);
}

/* Ends such a call: a positive return is the result size. */
int32_t result_end(struct tls_state *t, int32_t rc)
{
    if (t->zone_ok)
        msgpack_zone_clear(&t->zone);
    if (rc < 0) {
        msgpack_sbuffer_clear(&t->out);
        return rc;
    }
    if (t->out.size == 0)
        return EVA_OK;
    if (t->out.size > INT32_MAX) {
        msgpack_sbuffer_clear(&t->out);
        return EVA_ERR_CODE_SYSTEM_ERROR;
    }
#ifdef BREAK_GLOBAL_RESULT
    {
        int32_t n = (int32_t)t->out.size;
        pthread_mutex_lock(&g_shared_mu);
        msgpack_sbuffer_clear(&g_shared_out);
        int e = msgpack_sbuffer_write(&g_shared_out, t->out.data, t->out.size);
        pthread_mutex_unlock(&g_shared_mu);
        msgpack_sbuffer_clear(&t->out);
        if (e != 0)
            return EVA_ERR_CODE_SYSTEM_ERROR;
        /* let another thread overwrite it before the caller fetches it */
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 2000000}, NULL);
        return n;
    }
#else
    return (int32_t)t->out.size;
#endif
}

EXPORT_GET_RESULT int16_t eva_svc_get_result(struct EvaFFIBuffer *buf)
{
    if (!buf)
        return EVA_ERR_CODE_INVALID_PARAMS;
#ifdef BREAK_GLOBAL_RESULT
    pthread_mutex_lock(&g_shared_mu);
    const msgpack_sbuffer *res = &g_shared_out;
#else
    const msgpack_sbuffer *res = &tls.out;
#endif
    int16_t rc = EVA_OK;
    size_t n = res->size;
    if (n > 0 && buf->data == NULL) {
        rc = EVA_ERR_CODE_ABORTED;
    }
#ifndef BREAK_BOUNDS
    else if (n > buf->max) {
        rc = EVA_ERR_CODE_ABORTED; /* nothing is written */
    }
#endif
    else {
        /* Broken (BREAK_BOUNDS): the size check above is missing. */
        if (n > 0)
            memcpy(buf->data, res->data, n);
        buf->len = n;
    }
#ifdef BREAK_GLOBAL_RESULT
    pthread_mutex_unlock(&g_shared_mu);
#endif
    return rc;
}
