/* Frames the library published, kept for the script's frame expects. A
 * record never moves once added (readers use it without the lock). */
#ifndef HARNESS_FRAME_LOG_H
#define HARNESS_FRAME_LOG_H

#include <pthread.h>
#include <stddef.h>

struct harness_frame_rec {
    char *topic;
    char *payload;
    size_t len;
};

struct harness_frame_log {
    pthread_mutex_t mutex;
    pthread_cond_t added;
    struct harness_frame_rec **recs;
    size_t count, cap, limit;
    int full_warned;
};

void harness_frame_log_init(struct harness_frame_log *log, size_t limit);
void harness_frame_log_destroy(struct harness_frame_log *log);
void harness_frame_log_add(struct harness_frame_log *log, const char *topic, const char *payload, size_t len);
size_t harness_frame_log_count(struct harness_frame_log *log);
const struct harness_frame_rec *harness_frame_log_get(struct harness_frame_log *log, size_t index);
/* wait until there are more than `known` frames or the deadline (a
 * harness_clock_now() time) passes; returns the count */
size_t harness_frame_log_wait(struct harness_frame_log *log, size_t known, double deadline);

#endif
