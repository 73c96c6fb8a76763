#include "frame_log.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "output.h"
#include "xalloc.h"

void harness_frame_log_init(struct harness_frame_log *log, size_t limit)
{
    memset(log, 0, sizeof *log);
    pthread_mutex_init(&log->mutex, NULL);
    harness_clock_cond_init(&log->added);
    log->limit = limit;
}

void harness_frame_log_destroy(struct harness_frame_log *log)
{
    for (size_t i = 0; i < log->count; i++) free(log->recs[i]);
    free(log->recs);
    pthread_cond_destroy(&log->added);
    pthread_mutex_destroy(&log->mutex);
}

void harness_frame_log_add(struct harness_frame_log *log, const char *topic, const char *payload, size_t len)
{
    size_t tlen = strlen(topic) + 1;
    pthread_mutex_lock(&log->mutex);
    if (log->count >= log->limit) {
        if (!log->full_warned) {
            log->full_warned = 1;
            harness_log(HARNESS_LOG_WARN, "%zu frames recorded: later frames are not kept for frame expects",
                        log->limit);
        }
        pthread_mutex_unlock(&log->mutex);
        return;
    }
    pthread_mutex_unlock(&log->mutex);
    /* one block per record: header, topic, payload */
    struct harness_frame_rec *rec = harness_xmalloc(sizeof *rec + tlen + len);
    rec->topic = (char *)(rec + 1);
    memcpy(rec->topic, topic, tlen);
    rec->payload = rec->topic + tlen;
    if (len) memcpy(rec->payload, payload, len);
    rec->len = len;
    pthread_mutex_lock(&log->mutex);
    if (log->count == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 256;
        log->recs = harness_xrealloc(log->recs, log->cap * sizeof *log->recs);
    }
    log->recs[log->count++] = rec;
    pthread_cond_broadcast(&log->added);
    pthread_mutex_unlock(&log->mutex);
}

size_t harness_frame_log_count(struct harness_frame_log *log)
{
    pthread_mutex_lock(&log->mutex);
    size_t n = log->count;
    pthread_mutex_unlock(&log->mutex);
    return n;
}

const struct harness_frame_rec *harness_frame_log_get(struct harness_frame_log *log, size_t index)
{
    pthread_mutex_lock(&log->mutex);
    const struct harness_frame_rec *rec = index < log->count ? log->recs[index] : NULL;
    pthread_mutex_unlock(&log->mutex);
    return rec;
}

size_t harness_frame_log_wait(struct harness_frame_log *log, size_t known, double deadline)
{
    struct timespec at = harness_clock_at(deadline);
    pthread_mutex_lock(&log->mutex);
    while (log->count <= known && harness_clock_now() < deadline) {
        if (pthread_cond_timedwait(&log->added, &log->mutex, &at) != 0) break;
    }
    size_t n = log->count;
    pthread_mutex_unlock(&log->mutex);
    return n;
}
