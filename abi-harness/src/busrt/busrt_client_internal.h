/* What the RPC layer needs from the client beyond the public API: sending a
 * frame with an ack waiter that the caller waits on with its own lock. */
#ifndef BUSRT_CLIENT_INTERNAL_H
#define BUSRT_CLIENT_INTERNAL_H

#include <pthread.h>
#include <sys/uio.h>

#include "busrt_client.h"
#include "busrt_frame.h"

/* One frame id waiting for its ack. The reader sets code and done and
 * signals cond while holding `mutex` (NULL: the client's ack lock, which
 * the waiter then waits with: busrt_ack_wait). */
typedef struct busrt_ack_waiter {
    uint32_t id;
    int code;
    int done;
    pthread_cond_t *cond;
    pthread_mutex_t *mutex;
    struct busrt_ack_waiter *next;
} busrt_ack_waiter;

/* Sends one frame whose body is the parts. With ack (QoS 1/3 only) the
 * waiter is registered under the frame's id before the write; when this
 * returns 0 the caller owns the wait and must busrt_ack_forget a waiter it
 * stops waiting for before it is done. Without ack, an ack is not waited
 * for. 0 or a negative code (BUSRT_ERR_IO once the connection is down).
 * Must not be called with the waiter's mutex held. */
int busrt_send_frame(busrt_client *c, enum busrt_op op, int qos, struct iovec *parts, int n, busrt_ack_waiter *ack);
/* unregisters a waiter (no-op when already done); not with its mutex held */
void busrt_ack_forget(busrt_client *c, busrt_ack_waiter *w);
/* sends and waits for the ack (up to the client timeout) when qos & 1 */
int busrt_send_wait(busrt_client *c, enum busrt_op op, int qos, struct iovec *parts, int n);
/* 1 on c's own reader thread (in a callback): a wait for an ack or a reply
 * there could never end, since this thread is the one that would read it */
int busrt_on_reader_thread(const busrt_client *c);

#endif
