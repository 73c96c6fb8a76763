/* busrt-probe: the BUS/RT client (abi-harness/src/busrt) against a real
 * broker, one PASS/FAIL line per check. Built and run by tests/busrt.py
 * (under ThreadSanitizer and under AddressSanitizer).
 *   busrt-probe client ADDR   pub/sub, acks, messages, RPC, concurrency
 *   busrt-probe gone ADDR     waits in a call; the driver kills the broker:
 *                             prints "gone code=C seconds=S disconnected=D" */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "busrt_rpc.h"

static int failures;

static void check(const char *name, int ok, const char *fmt, long a, long b)
{
    if (ok) {
        printf("PASS busrt/client/%s\n", name);
    } else {
        failures++;
        printf("FAIL busrt/client/%s: ", name);
        printf(fmt, a, b);
        printf("\n");
    }
    fflush(stdout);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* frames seen by client A */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int seen_pub, seen_msg, seen_msg_rt, seen_bad;
static size_t seen_msg_len;

static void on_frame_a(void *ctx, const busrt_frame *f)
{
    (void)ctx;
    pthread_mutex_lock(&seen_lock);
    if (f->kind == BUSRT_FRAME_PUBLISH && !strcmp(f->topic, "probe/t")) {
        if (strcmp(f->sender, "probe.a") || f->len != 3 || memcmp(f->payload, "a\0b", 3))
            seen_bad++;
        seen_pub++;
    } else if (f->kind == BUSRT_FRAME_MESSAGE) {
        seen_msg++;
        seen_msg_rt = f->realtime;
        seen_msg_len = f->len;
    }
    pthread_mutex_unlock(&seen_lock);
}

static int seen(int *counter)
{
    pthread_mutex_lock(&seen_lock);
    int v = *counter;
    pthread_mutex_unlock(&seen_lock);
    return v;
}

/* B's RPC server: echo (the params back), fail (an error with a message),
 * late (answered 300 ms later from another thread), hang (never) */
static busrt_rpc *rpc_b;

static void *answer_late(void *arg)
{
    usleep(300000);
    busrt_rpc_reply(NULL, arg, "late", 4);
    return NULL;
}

static busrt_rpc_request *hung[16];
static int nhung;

static void on_call_b(void *ctx, const busrt_rpc_event *ev, busrt_rpc_request *req)
{
    (void)ctx;
    if (!req)
        return;
    if (!strcmp(ev->method, "echo")) {
        busrt_rpc_reply(NULL, req, ev->params, ev->params_len);
    } else if (!strcmp(ev->method, "fail")) {
        busrt_rpc_error(NULL, req, -32001, "item not found", 14);
    } else if (!strcmp(ev->method, "late")) {
        pthread_t t;
        pthread_create(&t, NULL, answer_late, req);
        pthread_detach(t);
    } else if (!strcmp(ev->method, "nested")) {
        /* a call from the handler fails at once; a QoS 1 send returns once sent */
        pthread_mutex_lock(&seen_lock);
        busrt_rpc *self = rpc_b;
        pthread_mutex_unlock(&seen_lock);
        double t0 = now();
        busrt_buf r;
        int rc = busrt_rpc_call(self, "probe.a", "x", NULL, 0, 1, 2, &r);
        int sent = busrt_send(busrt_rpc_client(self), "probe.nobody", "x", 1, BUSRT_QOS_PROCESSED);
        if (rc == BUSRT_ERR_OTHER && sent == 0 && now() - t0 < 0.5)
            busrt_rpc_reply(NULL, req, "ok", 2);
        else
            busrt_rpc_error(NULL, req, -32004, "nested call waited", 18);
    } else if (!strcmp(ev->method, "hang")) {
        pthread_mutex_lock(&seen_lock);
        if (nhung < 16)
            hung[nhung++] = req;
        else
            busrt_rpc_drop(req);
        pthread_mutex_unlock(&seen_lock);
    } else {
        busrt_rpc_error(NULL, req, BUSRT_RPC_METHOD_NOT_FOUND, NULL, 0);
    }
}

struct worker {
    busrt_rpc *rpc;
    int index, bad;
};

static void *call_worker(void *arg)
{
    struct worker *w = arg;
    char params[600];
    for (int n = 0; n < 300; n++) {
        int len = snprintf(params, sizeof params, "%d/%d/", w->index, n);
        memset(params + len, 'x', (size_t)(n % 500));
        len += n % 500;
        busrt_buf r;
        int rc = busrt_rpc_call(w->rpc, "probe.b", "echo", params, (size_t)len, n % 4, 5, &r);
        if (rc != 0 || r.len != (size_t)len || memcmp(r.data, params, (size_t)len))
            w->bad++;
        busrt_buf_free(&r);
    }
    return NULL;
}

static int run_client(const char *addr)
{
    busrt_options o;
    busrt_options_init(&o);
    o.timeout = 2;
    o.on_frame = on_frame_a;
    int err;
    busrt_client *a = busrt_connect(addr, "probe.a", &o, &err);
    check("connect", a != NULL, "err %ld", err, 0);
    if (!a)
        return 1;
    busrt_client *dup = busrt_connect(addr, "probe.a", &o, &err);
    check("duplicate-name", !dup && err == BUSRT_ERR_BUSY, "err %ld (want -32118)", err, 0);
    busrt_client *bad = busrt_connect(addr, ".reserved", &o, &err);
    check("reserved-name", !bad && err == BUSRT_ERR_DATA, "err %ld (want -32114)", err, 0);

    const char *topics[] = {"probe/t", "probe/+", "#"};
    int rc = busrt_subscribe(a, topics, 3, BUSRT_QOS_PROCESSED);
    check("subscribe-qos1-ack", rc == 0, "rc %ld", rc, 0);
    rc = busrt_publish(a, "probe/t", "a\0b", 3, BUSRT_QOS_PROCESSED);
    check("publish-qos1-ack", rc == 0, "rc %ld", rc, 0);
    usleep(300000);
    check("own-publication-once", seen(&seen_pub) == 1 && seen(&seen_bad) == 0, "delivered %ld times, %ld bad",
        seen(&seen_pub), seen(&seen_bad));
    rc = busrt_unsubscribe(a, topics, 3, BUSRT_QOS_PROCESSED);
    busrt_publish(a, "probe/t", "a\0b", 3, BUSRT_QOS_PROCESSED);
    usleep(200000);
    check("unsubscribe", rc == 0 && seen(&seen_pub) == 1, "rc %ld, delivered %ld", rc, seen(&seen_pub));

    rc = busrt_send(a, "probe.nobody", "x", 1, BUSRT_QOS_PROCESSED);
    check("message-absent-qos1", rc == BUSRT_ERR_NOT_REGISTERED, "rc %ld", rc, 0);
    rc = busrt_send(a, "probe.nobody", "x", 1, BUSRT_QOS_NO);
    check("message-absent-qos0", rc == 0, "rc %ld", rc, 0);

    o.on_frame = NULL;
    o.start_paused = 1;
    busrt_client *b = busrt_connect(addr, "probe.b", &o, &err);
    busrt_rpc *made = busrt_rpc_new(b, on_call_b, NULL);
    pthread_mutex_lock(&seen_lock);
    rpc_b = made;
    pthread_mutex_unlock(&seen_lock);
    char big[100000];
    memset(big, 0, sizeof big);
    rc = busrt_send(b, "probe.a", big, sizeof big, BUSRT_QOS_REALTIME_PROCESSED);
    usleep(200000);
    check("message-rt", rc == 0 && seen(&seen_msg) == 1 && seen_msg_rt && seen_msg_len == sizeof big,
        "rc %ld, got %ld", rc, seen(&seen_msg));

    busrt_rpc *rpc_a = busrt_rpc_new(a, NULL, NULL);
    busrt_buf r;
    rc = busrt_rpc_call(rpc_a, "probe.b", "echo", "\x81\xa1k\x01", 4, 1, 2, &r);
    check("rpc-reply", rc == 0 && r.len == 4 && !memcmp(r.data, "\x81\xa1k\x01", 4), "rc %ld len %ld", rc, (long)r.len);
    busrt_buf_free(&r);
    rc = busrt_rpc_call(rpc_a, "probe.b", "fail", NULL, 0, 3, 2, &r);
    check("rpc-error", rc == -32001 && r.len == 14 && !memcmp(r.data, "item not found", 14), "rc %ld len %ld", rc,
        (long)r.len);
    busrt_buf_free(&r);
    rc = busrt_rpc_call(rpc_a, "probe.b", "nested", NULL, 0, 1, 5, &r);
    check("rpc-call-from-handler-fails-at-once", rc == 0 && r.len == 2, "rc %ld", rc, 0);
    busrt_buf_free(&r);
    rc = busrt_rpc_call(rpc_b, "probe.a", "x", NULL, 0, 1, 2, &r);
    check("rpc-no-handler", rc == BUSRT_RPC_METHOD_NOT_FOUND, "rc %ld", rc, 0);
    double t0 = now();
    rc = busrt_rpc_call(rpc_a, "probe.nobody", "x", NULL, 0, 1, 5, &r);
    check("rpc-absent-qos1", rc == BUSRT_ERR_NOT_REGISTERED && now() - t0 < 1, "rc %ld", rc, 0);
    t0 = now();
    rc = busrt_rpc_call(rpc_a, "probe.nobody", "x", NULL, 0, 0, 0.3, &r);
    double el = now() - t0;
    check("rpc-absent-qos0-timeout", rc == BUSRT_RPC_TIMEOUT && el >= 0.29 && el < 1.5, "rc %ld, ms %ld", rc,
        (long)(el * 1000));
    rc = busrt_rpc_call(rpc_a, "probe.b", "late", NULL, 0, 1, 0.1, &r);
    int rc2 = -1;
    busrt_buf r2 = {0};
    usleep(400000); /* the late reply arrives: dropped */
    rc2 = busrt_rpc_call(rpc_a, "probe.b", "echo", "now", 3, 1, 2, &r2);
    check("rpc-late-reply-dropped", rc == BUSRT_RPC_TIMEOUT && rc2 == 0 && r2.len == 3 && !memcmp(r2.data, "now", 3),
        "rc %ld then %ld", rc, rc2);
    busrt_buf_free(&r2);

    enum { WORKERS = 8 };
    pthread_t t[WORKERS];
    struct worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){rpc_a, i, 0};
        pthread_create(&t[i], NULL, call_worker, &w[i]);
    }
    int badcalls = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        badcalls += w[i].bad;
    }
    check("rpc-8-threads-matched", badcalls == 0, "%ld of 2400 calls wrong", badcalls, 0);

    static char huge[3 << 20];
    memset(huge, 7, sizeof huge);
    rc = busrt_rpc_call(rpc_a, "probe.b", "echo", huge, sizeof huge, 1, 10, &r);
    check("rpc-3mib", rc == 0 && r.len == sizeof huge && !memcmp(r.data, huge, sizeof huge), "rc %ld len %ld", rc,
        (long)r.len);
    busrt_buf_free(&r);

    /* a server closing with a request in hand: the caller sees its timeout */
    busrt_rpc_free(rpc_b);
    busrt_close(b);
    busrt_rpc_free(rpc_a);
    busrt_close(a);
    return failures ? 1 : 0;
}

static atomic_int disconnected;
static void on_gone(void *ctx, int err)
{
    (void)ctx;
    (void)err;
    atomic_store(&disconnected, 1);
}

static int run_gone(const char *addr)
{
    busrt_options o;
    busrt_options_init(&o);
    o.timeout = 30;
    o.on_disconnect = on_gone;
    o.start_paused = 1;
    int err;
    busrt_client *b = busrt_connect(addr, "probe.gone.b", &o, &err);
    busrt_client *a = busrt_connect(addr, "probe.gone.a", &o, &err);
    if (!a || !b) {
        printf("gone connect failed %d\n", err);
        return 1;
    }
    rpc_b = busrt_rpc_new(b, on_call_b, NULL);
    busrt_rpc *rpc = busrt_rpc_new(a, NULL, NULL);
    printf("waiting\n");
    fflush(stdout);
    double t0 = now();
    busrt_buf r;
    int rc = busrt_rpc_call(rpc, "probe.gone.b", "hang", NULL, 0, 1, 30, &r);
    double el = now() - t0;
    usleep(100000);
    int after = busrt_publish(a, "x", "", 0, 1);
    printf("gone code=%d seconds=%.3f disconnected=%d after=%d\n", rc, el, atomic_load(&disconnected), after);
    pthread_mutex_lock(&seen_lock);
    for (int i = 0; i < nhung; i++)
        busrt_rpc_drop(hung[i]);
    pthread_mutex_unlock(&seen_lock);
    busrt_rpc_free(rpc_b);
    busrt_rpc_free(rpc);
    busrt_close(a);
    busrt_close(b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "client"))
        return run_client(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "gone"))
        return run_gone(argv[2]);
    fprintf(stderr, "usage: busrt-probe client|gone ADDR\n");
    return 2;
}
