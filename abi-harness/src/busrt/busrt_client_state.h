/* The client's state, shared by busrt_client.c (connect, send, acks, close)
 * and busrt_reader.c (the reader thread); nobody else looks inside. */
#ifndef BUSRT_CLIENT_STATE_H
#define BUSRT_CLIENT_STATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "busrt_client_internal.h"

struct busrt_client {
    int fd;
    char *name;
    busrt_options opt;
    pthread_mutex_t write_lock;      /* one frame at a time on the socket */
    pthread_mutex_t ack_lock;        /* waiters, dead, err, reader_started */
    busrt_ack_waiter *waiters;
    int dead;
    int err;
    atomic_uint next_id;
    pthread_t reader;
    int reader_started;
    atomic_int closing;
    pthread_rwlock_t hook_lock;      /* the RPC layer's hooks: read-held while one runs, so
                                      * unsetting them waits for a running one */
    busrt_message_hook message_hook;
    void *message_ctx;
    busrt_down_hook down_hook;
    void *down_ctx;
};

/* the connection is over: fails every waiter with err, shuts the socket
 * down (the reader wakes up), tells the down hook; only the first call acts */
void busrt_client_fail(busrt_client *c, int err);
/* hands an ack to its waiter */
void busrt_client_ack(busrt_client *c, uint32_t id, uint8_t result);
/* the reader thread (busrt_reader.c) */
void *busrt_reader_main(void *arg);

#endif
