#include "out_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "xalloc.h"

void harness_out_queue_init(struct harness_out_queue *q, size_t cap)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mutex, NULL);
    harness_clock_cond_init(&q->changed);
    q->cap = cap ? cap : 1;
}

void harness_out_queue_destroy(struct harness_out_queue *q)
{
    struct harness_out_frame *f = q->head;
    while (f) {
        struct harness_out_frame *next = f->next;
        free(f);
        f = next;
    }
    pthread_cond_destroy(&q->changed);
    pthread_mutex_destroy(&q->mutex);
}

int harness_out_queue_is_full(struct harness_out_queue *q)
{
    pthread_mutex_lock(&q->mutex);
    int full = q->count >= q->cap;
    pthread_mutex_unlock(&q->mutex);
    return full;
}

int harness_out_queue_push(struct harness_out_queue *q, const char *topic, size_t topic_len, const char *payload,
                           size_t payload_len)
{
    return harness_out_queue_push_kind(q, HARNESS_OUT_PUBLISH, topic, topic_len, payload, payload_len);
}

int harness_out_queue_push_kind(struct harness_out_queue *q, enum harness_out_kind kind, const char *topic,
                                size_t topic_len, const char *payload, size_t payload_len)
{
    /* allocate outside the lock; one block for header, topic and payload */
    struct harness_out_frame *f = harness_xmalloc(sizeof *f + topic_len + 1 + payload_len);
    f->next = NULL;
    f->kind = kind;
    f->topic = (char *)(f + 1);
    memcpy(f->topic, topic, topic_len);
    f->topic[topic_len] = '\0';
    f->payload = f->topic + topic_len + 1;
    if (payload_len) memcpy(f->payload, payload, payload_len);
    f->payload_len = payload_len;

    pthread_mutex_lock(&q->mutex);
    if (q->closed || q->count >= q->cap) {
        pthread_mutex_unlock(&q->mutex);
        free(f);
        return -1;
    }
    f->seq = ++q->pushed_seq;
    if (q->tail) q->tail->next = f;
    else q->head = f;
    q->tail = f;
    q->count++;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mutex);
    return 0;
}

struct harness_out_frame *harness_out_queue_pop(struct harness_out_queue *q)
{
    pthread_mutex_lock(&q->mutex);
    while (!q->head && !q->closed) pthread_cond_wait(&q->changed, &q->mutex);
    struct harness_out_frame *f = q->head;
    if (f) {
        q->head = f->next;
        if (!q->head) q->tail = NULL;
        /* the slot frees when popped, as a bus client's queue does */
        q->count--;
    }
    pthread_mutex_unlock(&q->mutex);
    return f;
}

void harness_out_queue_done(struct harness_out_queue *q, struct harness_out_frame *f)
{
    pthread_mutex_lock(&q->mutex);
    /* one consumer, FIFO: frames finish in sequence order */
    if (f->seq > q->processed_seq) q->processed_seq = f->seq;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mutex);
    free(f);
}

uint64_t harness_out_queue_pushed(struct harness_out_queue *q)
{
    pthread_mutex_lock(&q->mutex);
    uint64_t seq = q->pushed_seq;
    pthread_mutex_unlock(&q->mutex);
    return seq;
}

int harness_out_queue_wait_processed(struct harness_out_queue *q, uint64_t seq, double timeout)
{
    struct timespec deadline = harness_clock_deadline(timeout);
    pthread_mutex_lock(&q->mutex);
    int rc = 0;
    while (q->processed_seq < seq) {
        if (pthread_cond_timedwait(&q->changed, &q->mutex, &deadline) == ETIMEDOUT) {
            rc = q->processed_seq < seq ? -1 : 0;
            break;
        }
    }
    pthread_mutex_unlock(&q->mutex);
    return rc;
}

void harness_out_queue_close(struct harness_out_queue *q)
{
    pthread_mutex_lock(&q->mutex);
    q->closed = 1;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mutex);
}
