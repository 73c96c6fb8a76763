/* The launcher's bounded outgoing queue: frames the library publishes wait
 * here for the consumer. Bounded like the launcher's command queue (eva4 svc/ffi/src/main.rs: async_channel::bounded(--command-queue-size)): when it is
 * full, PUBLISH/SUBSCRIBE/RPC_CALL answer BUSY. Every frame gets a sequence
 * number so a caller can wait until everything pushed so far was handled. */
#ifndef HARNESS_OUT_QUEUE_H
#define HARNESS_OUT_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* what a queued frame asks of the bus; the modelled bus queues only PUBLISH
 * (it keeps subscriptions itself), a real one sends each kind as a frame */
enum harness_out_kind {
    HARNESS_OUT_PUBLISH = 0,
    HARNESS_OUT_SUBSCRIBE,   /* payload: the topics, NUL-separated */
    HARNESS_OUT_UNSUBSCRIBE, /* likewise */
};

struct harness_out_frame {
    struct harness_out_frame *next;
    uint64_t seq;
    enum harness_out_kind kind;
    char *topic;     /* NUL-terminated, inside the same allocation */
    char *payload;   /* payload_len bytes, inside the same allocation */
    size_t payload_len;
};

struct harness_out_queue {
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    struct harness_out_frame *head, *tail;
    size_t count, cap;
    uint64_t pushed_seq;    /* last sequence number handed out */
    uint64_t processed_seq; /* every frame up to this one was handled */
    int closed;
};

void harness_out_queue_init(struct harness_out_queue *q, size_t cap);
void harness_out_queue_destroy(struct harness_out_queue *q);
int harness_out_queue_is_full(struct harness_out_queue *q);
/* 0, or -1 when full/closed (the caller answers BUSY) */
int harness_out_queue_push(struct harness_out_queue *q, const char *topic, size_t topic_len, const char *payload,
                           size_t payload_len);
/* the same for any kind */
int harness_out_queue_push_kind(struct harness_out_queue *q, enum harness_out_kind kind, const char *topic,
                                size_t topic_len, const char *payload, size_t payload_len);
/* blocks; NULL once closed and empty */
struct harness_out_frame *harness_out_queue_pop(struct harness_out_queue *q);
/* the consumer is done with a popped frame (frees it) */
void harness_out_queue_done(struct harness_out_queue *q, struct harness_out_frame *f);
uint64_t harness_out_queue_pushed(struct harness_out_queue *q);
/* wait until every frame up to seq was handled; 0, or -1 on timeout */
int harness_out_queue_wait_processed(struct harness_out_queue *q, uint64_t seq, double timeout);
/* no more pushes; pop drains what is left then returns NULL */
void harness_out_queue_close(struct harness_out_queue *q);

#endif
