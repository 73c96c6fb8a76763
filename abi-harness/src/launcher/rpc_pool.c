#include "rpc_pool.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "output.h"
#include "runtime.h"
#include "xalloc.h"

/* bytes after an exact-size result buffer that must stay untouched */
#define HARNESS_POOL_CANARY_LEN 16
#define HARNESS_POOL_CANARY 0xa5

void harness_reply_clear(struct harness_reply *reply)
{
    free(reply->payload);
    memset(reply, 0, sizeof *reply);
}

void harness_rpc_invoke(const struct harness_lib *lib, const char *sender, const void *method, size_t method_len,
                        const void *payload, size_t payload_len, struct harness_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    if (!lib->on_rpc_call) {
        reply->code = reply->svc_return = EVA_ERR_CODE_METHOD_NOT_FOUND;
        return;
    }
    struct EvaFFIRpcEvent ev;
    ev.primary_sender = (char *)sender;
    ev.method_size = method_len;
    ev.method = (char *)method;
    ev.payload_size = payload_len;
    ev.payload = payload_len ? (char *)payload : NULL;
    int32_t n = lib->on_rpc_call(&ev);
    reply->svc_return = n;
    if (n <= 0) {
        reply->code = n;
        return;
    }
    size_t size = (size_t)n;
    char *mem = harness_xmalloc(size + HARNESS_POOL_CANARY_LEN);
    memset(mem + size, HARNESS_POOL_CANARY, HARNESS_POOL_CANARY_LEN);
    struct EvaFFIBuffer buf = {size, mem, size};
    int16_t rc = lib->get_result(&buf);
    for (size_t i = 0; i < HARNESS_POOL_CANARY_LEN; i++) {
        if ((unsigned char)mem[size + i] != HARNESS_POOL_CANARY) reply->overrun = 1;
    }
    if (buf.data != mem) reply->repointed = 1;
    if (rc < 0) {
        reply->code = rc;
        free(mem);
        return;
    }
    size_t len = buf.len;
    if (len > size) {
        reply->overrun = 1;
        len = size;
    }
    reply->code = 0;
    reply->has_payload = 1;
    reply->payload = mem;
    reply->payload_len = len;
}

enum harness_pool_job_kind { HARNESS_POOL_CALL, HARNESS_POOL_FRAME };

struct harness_pool_job {
    struct harness_pool_job *next;
    enum harness_pool_job_kind kind;
    const char *sender;
    const void *method;
    size_t method_len;
    const void *payload;
    size_t payload_len;
    struct harness_reply *reply;
    sem_t done;
    /* an asynchronous call: answered through done_fn, the job owns its copies */
    harness_rpc_done_fn done_fn;
    void *done_ud;
    /* frames own their copies: sender, topic, payload in one block */
    char *topic;
};

struct harness_rpc_pool {
    const struct harness_lib *lib;
    pthread_mutex_t mutex;
    pthread_cond_t work;
    pthread_cond_t idle;
    struct harness_pool_job *head, *tail;
    size_t queued, running;
    int stopping;
    unsigned thread_count;
    pthread_t *threads;
    int warned_no_frame;
};

static void harness_pool_run_frame(struct harness_rpc_pool *pool, struct harness_pool_job *job)
{
    if (!pool->lib->on_frame) {
        if (!pool->warned_no_frame) {
            pool->warned_no_frame = 1;
            harness_log(HARNESS_LOG_WARN, "the library exports no svc_on_frame: frames are dropped");
        }
        return;
    }
    struct EvaFFIFrame fr;
    fr.kind = HARNESS_FRAME_KIND_PUBLISH;
    fr.primary_sender = (char *)job->sender;
    fr.topic = job->topic;
    fr.payload_size = job->payload_len;
    fr.payload = job->payload_len ? (char *)job->payload : NULL;
    pool->lib->on_frame(&fr);
}

static void *harness_pool_thread_main(void *arg)
{
    struct harness_rpc_pool *pool = arg;
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        while (!pool->head && !pool->stopping) pthread_cond_wait(&pool->work, &pool->mutex);
        struct harness_pool_job *job = pool->head;
        if (!job) break; /* stopping and drained */
        pool->head = job->next;
        if (!pool->head) pool->tail = NULL;
        pool->queued--;
        pool->running++;
        pthread_mutex_unlock(&pool->mutex);

        /* workers <= 1: nothing is routed while a lifecycle callback holds the one thread */
        harness_runtime_before_route();

        if (job->kind == HARNESS_POOL_CALL && job->done_fn) {
            struct harness_reply reply;
            harness_rpc_invoke(pool->lib, job->sender, job->method, job->method_len, job->payload, job->payload_len,
                               &reply);
            job->done_fn(job->done_ud, &reply);
            harness_reply_clear(&reply);
            free(job);
        } else if (job->kind == HARNESS_POOL_CALL) {
            harness_rpc_invoke(pool->lib, job->sender, job->method, job->method_len, job->payload, job->payload_len,
                               job->reply);
            sem_post(&job->done); /* the job lives on the caller's stack */
        } else {
            harness_pool_run_frame(pool, job);
            free(job);
        }

        pthread_mutex_lock(&pool->mutex);
        pool->running--;
        if (!pool->head && pool->running == 0) pthread_cond_broadcast(&pool->idle);
    }
    pthread_mutex_unlock(&pool->mutex);
    return NULL;
}

struct harness_rpc_pool *harness_rpc_pool_start(const struct harness_lib *lib, unsigned threads)
{
    struct harness_rpc_pool *pool = harness_xcalloc(1, sizeof *pool);
    pool->lib = lib;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->work, NULL);
    harness_clock_cond_init(&pool->idle);
    pool->threads = harness_xcalloc(threads ? threads : 1, sizeof *pool->threads);
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&pool->threads[i], NULL, harness_pool_thread_main, pool) != 0) break;
        pool->thread_count++;
    }
    if (pool->thread_count == 0) {
        harness_log(HARNESS_LOG_CRITICAL, "cannot start any pool thread");
        abort();
    }
    return pool;
}

static void harness_pool_enqueue(struct harness_rpc_pool *pool, struct harness_pool_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&pool->mutex);
    if (pool->tail) pool->tail->next = job;
    else pool->head = job;
    pool->tail = job;
    pool->queued++;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->mutex);
}

void harness_rpc_pool_call(struct harness_rpc_pool *pool, const char *sender, const void *method, size_t method_len,
                           const void *payload, size_t payload_len, struct harness_reply *reply)
{
    struct harness_pool_job job;
    memset(&job, 0, sizeof job);
    job.kind = HARNESS_POOL_CALL;
    job.sender = sender;
    job.method = method;
    job.method_len = method_len;
    job.payload = payload;
    job.payload_len = payload_len;
    job.reply = reply;
    sem_init(&job.done, 0, 0);
    harness_pool_enqueue(pool, &job);
    while (sem_wait(&job.done) == -1 && errno == EINTR) {
    }
    sem_destroy(&job.done);
}

void harness_rpc_pool_call_async(struct harness_rpc_pool *pool, const char *sender, const void *method,
                                 size_t method_len, const void *payload, size_t payload_len, harness_rpc_done_fn done,
                                 void *done_ud)
{
    size_t slen = strlen(sender) + 1;
    /* method and payload keep one spare byte each so a zero length still has a valid pointer */
    struct harness_pool_job *job = harness_xcalloc(1, sizeof *job + slen + method_len + 1 + payload_len + 1);
    char *p = (char *)(job + 1);
    job->kind = HARNESS_POOL_CALL;
    memcpy(p, sender, slen);
    job->sender = p;
    p += slen;
    if (method_len) memcpy(p, method, method_len);
    job->method = p;
    job->method_len = method_len;
    p += method_len + 1;
    if (payload_len) memcpy(p, payload, payload_len);
    job->payload = payload_len ? p : NULL;
    job->payload_len = payload_len;
    job->done_fn = done;
    job->done_ud = done_ud;
    harness_pool_enqueue(pool, job);
}

void harness_rpc_pool_frame(struct harness_rpc_pool *pool, const char *sender, const char *topic,
                            const void *payload, size_t payload_len)
{
    size_t slen = strlen(sender) + 1, tlen = strlen(topic) + 1;
    struct harness_pool_job *job = harness_xcalloc(1, sizeof *job + slen + tlen + payload_len);
    char *p = (char *)(job + 1);
    job->kind = HARNESS_POOL_FRAME;
    memcpy(p, sender, slen);
    job->sender = p;
    p += slen;
    memcpy(p, topic, tlen);
    job->topic = p;
    p += tlen;
    if (payload_len) memcpy(p, payload, payload_len);
    job->payload = p;
    job->payload_len = payload_len;
    harness_pool_enqueue(pool, job);
}

int harness_rpc_pool_wait_idle(struct harness_rpc_pool *pool, double timeout)
{
    struct timespec deadline = harness_clock_deadline(timeout);
    int rc = 0;
    pthread_mutex_lock(&pool->mutex);
    while (pool->head || pool->running) {
        if (pthread_cond_timedwait(&pool->idle, &pool->mutex, &deadline) == ETIMEDOUT) {
            rc = (pool->head || pool->running) ? -1 : 0;
            break;
        }
    }
    pthread_mutex_unlock(&pool->mutex);
    return rc;
}

void harness_rpc_pool_stop(struct harness_rpc_pool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mutex);
    for (unsigned i = 0; i < pool->thread_count; i++) pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->idle);
    pthread_mutex_destroy(&pool->mutex);
    free(pool);
}
