/* The client: connect + register, sending frames, ack waiters, close. The
 * reader thread is busrt_reader.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "busrt_client_state.h"
#include "busrt_handshake.h"
#include "busrt_transport.h"
#include "clock.h"

#define DEFAULT_TIMEOUT 5.0
#define DEFAULT_MAX_FRAME ((size_t)256 << 20)

void busrt_options_init(busrt_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->timeout = DEFAULT_TIMEOUT;
    opt->max_frame = DEFAULT_MAX_FRAME;
}

static void client_free(busrt_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    pthread_mutex_destroy(&c->write_lock);
    pthread_mutex_destroy(&c->ack_lock);
    pthread_rwlock_destroy(&c->hook_lock);
    free(c->name);
    free(c);
}

busrt_client *busrt_connect(const char *addr, const char *name, const busrt_options *opt, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    busrt_client *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(name ? name : ""))) {
        free(c);
        *err = BUSRT_ERR_OTHER;
        return NULL;
    }
    if (opt)
        c->opt = *opt;
    else
        busrt_options_init(&c->opt);
    if (!(c->opt.timeout > 0))
        c->opt.timeout = DEFAULT_TIMEOUT;
    if (!c->opt.max_frame)
        c->opt.max_frame = DEFAULT_MAX_FRAME;
    pthread_mutex_init(&c->write_lock, NULL);
    pthread_mutex_init(&c->ack_lock, NULL);
    pthread_rwlock_init(&c->hook_lock, NULL);
    atomic_init(&c->next_id, 1);
    atomic_init(&c->closing, 0);
    double deadline = harness_clock_now() + c->opt.timeout;
    c->fd = busrt_transport_connect(addr, deadline, err);
    if (c->fd < 0) {
        int e = errno;
        client_free(c);
        errno = e;
        return NULL;
    }
    int rc = busrt_handshake(c->fd, c->name, deadline);
    if (rc == 0) {
        busrt_set_send_timeout(c->fd, c->opt.timeout);
        /* the Rust RPC layer pings right after registering */
        rc = busrt_send_frame(c, BUSRT_OP_NOP, 0, NULL, 0, NULL);
    }
    if (rc != 0) {
        *err = rc;
        client_free(c);
        return NULL;
    }
    *err = 0;
    if (!c->opt.start_paused)
        busrt_start(c);
    return c;
}

void busrt_start(busrt_client *c)
{
    pthread_mutex_lock(&c->ack_lock);
    if (!c->reader_started && pthread_create(&c->reader, NULL, busrt_reader_main, c) == 0)
        c->reader_started = 1;
    pthread_mutex_unlock(&c->ack_lock);
}

void busrt_client_fail(busrt_client *c, int err)
{
    pthread_mutex_lock(&c->ack_lock);
    if (c->dead) {
        pthread_mutex_unlock(&c->ack_lock);
        return;
    }
    c->dead = 1;
    c->err = err;
    for (busrt_ack_waiter *w = c->waiters; w; w = w->next) {
        if (w->mutex)
            pthread_mutex_lock(w->mutex);
        w->code = err;
        w->done = 1;
        pthread_cond_signal(w->cond);
        if (w->mutex)
            pthread_mutex_unlock(w->mutex);
    }
    c->waiters = NULL;
    pthread_mutex_unlock(&c->ack_lock);
    shutdown(c->fd, SHUT_RDWR);
    pthread_rwlock_rdlock(&c->hook_lock);
    if (c->down_hook)
        c->down_hook(c->down_ctx, err);
    pthread_rwlock_unlock(&c->hook_lock);
}

void busrt_client_ack(busrt_client *c, uint32_t id, uint8_t result)
{
    pthread_mutex_lock(&c->ack_lock);
    for (busrt_ack_waiter **p = &c->waiters; *p; p = &(*p)->next) {
        busrt_ack_waiter *w = *p;
        if (w->id != id)
            continue;
        *p = w->next;
        if (w->mutex)
            pthread_mutex_lock(w->mutex);
        w->code = busrt_result_code(result);
        w->done = 1;
        pthread_cond_signal(w->cond);
        if (w->mutex)
            pthread_mutex_unlock(w->mutex);
        break;
    }
    /* an unknown id: an ack nobody waits for (replies, QoS 1 without wait) */
    pthread_mutex_unlock(&c->ack_lock);
}

static void unlink_waiter(busrt_client *c, busrt_ack_waiter *w)
{
    for (busrt_ack_waiter **p = &c->waiters; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
}

void busrt_ack_forget(busrt_client *c, busrt_ack_waiter *w)
{
    pthread_mutex_lock(&c->ack_lock);
    unlink_waiter(c, w);
    pthread_mutex_unlock(&c->ack_lock);
}

static uint32_t next_frame_id(busrt_client *c)
{
    /* from 1, wrapping to 1: 0 belongs to pings */
    uint32_t id;
    do
        id = atomic_fetch_add(&c->next_id, 1);
    while (id == 0);
    return id;
}

int busrt_send_frame(busrt_client *c, enum busrt_op op, int qos, struct iovec *parts, int n, busrt_ack_waiter *ack)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += parts[i].iov_len;
    if (len > UINT32_MAX)
        return BUSRT_ERR_DATA;
    uint32_t id = op == BUSRT_OP_NOP ? 0 : next_frame_id(c);
    pthread_mutex_lock(&c->ack_lock);
    if (c->dead) {
        pthread_mutex_unlock(&c->ack_lock);
        return BUSRT_ERR_IO;
    }
    if (ack && (qos & 1)) {
        ack->id = id;
        ack->done = 0;
        ack->code = 0;
        ack->next = c->waiters;
        c->waiters = ack;
    }
    pthread_mutex_unlock(&c->ack_lock);
    uint8_t head[BUSRT_OUT_HEADER];
    busrt_encode_header(head, id, op, qos, (uint32_t)len);
    struct iovec stack[8], *iov = stack;
    if (n + 1 > 8 && !(iov = malloc(sizeof *iov * (size_t)(n + 1)))) {
        if (ack)
            busrt_ack_forget(c, ack);
        return BUSRT_ERR_OTHER;
    }
    iov[0].iov_base = head;
    iov[0].iov_len = sizeof head;
    if (n)
        memcpy(iov + 1, parts, sizeof *iov * (size_t)n);
    pthread_mutex_lock(&c->write_lock);
    int rc = busrt_write_parts(c->fd, iov, n + 1);
    pthread_mutex_unlock(&c->write_lock);
    if (iov != stack)
        free(iov);
    if (rc != 0) {
        /* a part of a frame may be on the wire: the stream is lost */
        busrt_client_fail(c, BUSRT_ERR_IO);
        if (ack)
            busrt_ack_forget(c, ack);
    }
    return rc;
}

int busrt_send_wait(busrt_client *c, enum busrt_op op, int qos, struct iovec *parts, int n)
{
    /* from a callback: sent, its ack not waited for (this thread reads it) */
    if (!(qos & 1) || busrt_on_reader_thread(c))
        return busrt_send_frame(c, op, qos, parts, n, NULL);
    pthread_cond_t cond;
    harness_clock_cond_init(&cond);
    busrt_ack_waiter w = {.cond = &cond};
    int rc = busrt_send_frame(c, op, qos, parts, n, &w);
    if (rc == 0) {
        struct timespec until = harness_clock_at(harness_clock_now() + c->opt.timeout);
        pthread_mutex_lock(&c->ack_lock);
        while (!w.done)
            if (pthread_cond_timedwait(&cond, &c->ack_lock, &until) == ETIMEDOUT && !w.done) {
                unlink_waiter(c, &w);
                w.code = BUSRT_ERR_TIMEOUT;
                break;
            }
        pthread_mutex_unlock(&c->ack_lock);
        rc = w.code;
    }
    pthread_cond_destroy(&cond);
    return rc;
}

void busrt_close(busrt_client *c)
{
    if (!c)
        return;
    atomic_store(&c->closing, 1);
    busrt_client_fail(c, BUSRT_ERR_IO);
    if (c->reader_started)
        pthread_join(c->reader, NULL);
    client_free(c);
}

int busrt_is_connected(busrt_client *c)
{
    pthread_mutex_lock(&c->ack_lock);
    int up = !c->dead;
    pthread_mutex_unlock(&c->ack_lock);
    return up;
}

int busrt_last_error(busrt_client *c)
{
    pthread_mutex_lock(&c->ack_lock);
    int err = c->err;
    pthread_mutex_unlock(&c->ack_lock);
    return err;
}

const char *busrt_client_name(const busrt_client *c)
{
    return c->name;
}

double busrt_timeout(const busrt_client *c)
{
    return c->opt.timeout;
}

void busrt_set_message_hook(busrt_client *c, busrt_message_hook hook, void *ctx)
{
    pthread_rwlock_wrlock(&c->hook_lock);
    c->message_hook = hook;
    c->message_ctx = ctx;
    pthread_rwlock_unlock(&c->hook_lock);
}

void busrt_set_down_hook(busrt_client *c, busrt_down_hook hook, void *ctx)
{
    pthread_rwlock_wrlock(&c->hook_lock);
    c->down_hook = hook;
    c->down_ctx = ctx;
    pthread_rwlock_unlock(&c->hook_lock);
}
