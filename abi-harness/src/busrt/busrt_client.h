/* A BUS/RT client (the broker of EVA ICS v4): connect + register, publish,
 * subscribe, messages, QoS acks, keepalive pings, and a reader thread that
 * hands frames to a callback. The wire rules are busrt-protocol.md §1-§3.
 *
 * Thread safety: every function but busrt_close may be called from any
 * thread at once. Callbacks run on the client's reader thread: they must not
 * block for long (pings and acks wait behind them) and must not call
 * busrt_close; they may publish/send, but a QoS 1/3 ack is not waited for
 * there (the callback's thread is the one that reads it): 0 once sent.
 *
 * Errors are negative codes, the RPC codes of bus errors (−32000 − byte, §3.3),
 * so they can be passed on as RPC error codes unchanged.
 *
 * API changes after the first commit are listed here:
 * - from a callback, QoS 1/3 operations return once sent instead of timing
 *   out waiting for an ack their own thread would have to read. */
#ifndef BUSRT_CLIENT_H
#define BUSRT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define BUSRT_ERR_NOT_REGISTERED (-32113) /* ack 0x71: target not connected */
#define BUSRT_ERR_DATA (-32114)           /* invalid name / data */
#define BUSRT_ERR_IO (-32115)             /* socket error, broker gone, client closed */
#define BUSRT_ERR_OTHER (-32116)          /* an unknown result byte, protocol violation */
#define BUSRT_ERR_NOT_SUPPORTED (-32117)  /* greeting or version refused */
#define BUSRT_ERR_BUSY (-32118)           /* the name is already registered */
#define BUSRT_ERR_NOT_DELIVERED (-32119)  /* target's queue full */
#define BUSRT_ERR_TIMEOUT (-32120)        /* connect/handshake/ack wait overran opt.timeout */
#define BUSRT_ERR_ACCESS (-32121)         /* ACL denial */

/* the bus error code of a broker result byte (0x01 -> 0) */
int busrt_result_code(uint8_t result);
/* "BUS_BUSY" etc. for the codes above; NULL for others */
const char *busrt_error_name(int code);

enum busrt_qos {
    BUSRT_QOS_NO = 0,                  /* fire and forget, buffered */
    BUSRT_QOS_PROCESSED = 1,           /* the broker acks (queued), buffered */
    BUSRT_QOS_REALTIME = 2,            /* no ack, flushed at once */
    BUSRT_QOS_REALTIME_PROCESSED = 3,  /* ack + realtime */
};

/* frame kinds as on the wire */
enum busrt_frame_kind {
    BUSRT_FRAME_PUBLISH = 0x01,
    BUSRT_FRAME_MESSAGE = 0x12,
    BUSRT_FRAME_BROADCAST = 0x13,
};

/* A delivered frame. Pointers are valid during the callback only. sender
 * and topic are NUL-terminated; topic is "" for MESSAGE and BROADCAST. The
 * payload is not terminated and may hold NULs. */
typedef struct busrt_frame {
    int kind;               /* enum busrt_frame_kind */
    const char *sender;     /* full name, e.g. "svc.x%%0" */
    size_t sender_len;
    const char *topic;
    size_t topic_len;
    const uint8_t *payload;
    size_t len;
    int realtime;           /* the sender used QoS 2/3 */
} busrt_frame;

typedef void (*busrt_frame_cb)(void *ctx, const busrt_frame *f);
/* called once, on the reader thread, when the connection ends for any reason
 * other than busrt_close (err: BUSRT_ERR_IO, or BUSRT_ERR_OTHER on a
 * protocol violation by the broker) */
typedef void (*busrt_disconnect_cb)(void *ctx, int err);

typedef struct busrt_options {
    double timeout;                 /* s: connect+handshake, each write, each ack wait, ping interval (default 5) */
    busrt_frame_cb on_frame;        /* PUBLISH/BROADCAST, and MESSAGE when no RPC layer takes them */
    void *frame_ctx;
    busrt_disconnect_cb on_disconnect;
    void *disconnect_ctx;
    int start_paused;               /* 1: nothing is read until busrt_start (busrt_rpc_new starts it):
                                     * lets an RPC server be in place before the first request */
    size_t max_frame;               /* bytes; a larger frame from the broker is a violation (default 256 MiB) */
} busrt_options;

void busrt_options_init(busrt_options *opt);

typedef struct busrt_client busrt_client;

/* addr: a Unix socket path (ends in .sock/.socket/.ipc or starts with '/')
 * or TCP "host:port" ("[v6]:port" too). Connects, handshakes, registers
 * `name`, pings once and starts the reader (unless opt->start_paused).
 * NULL on failure with *err = BUSRT_ERR_IO (connect), BUSRT_ERR_TIMEOUT,
 * BUSRT_ERR_BUSY (duplicate name), BUSRT_ERR_DATA (bad name), ... opt may be
 * NULL (defaults). */
busrt_client *busrt_connect(const char *addr, const char *name, const busrt_options *opt, int *err);
/* starts the reader of a client connected with start_paused (no-op otherwise) */
void busrt_start(busrt_client *c);

/* Each returns 0 or a negative code. QoS 1/3 wait for the broker's ack (up to
 * opt.timeout) and return its result: e.g. busrt_send to an absent target ->
 * BUSRT_ERR_NOT_REGISTERED. Topics/targets must not contain NUL. */
int busrt_publish(busrt_client *c, const char *topic, const void *payload, size_t len, int qos);
/* PUBLISH_FOR: only `receiver`'s matching subscriptions get it */
int busrt_publish_for(busrt_client *c, const char *topic, const char *receiver,
    const void *payload, size_t len, int qos);
int busrt_subscribe(busrt_client *c, const char *const *topics, size_t n, int qos);
int busrt_unsubscribe(busrt_client *c, const char *const *topics, size_t n, int qos);
/* MESSAGE to one client */
int busrt_send(busrt_client *c, const char *target, const void *payload, size_t len, int qos);
int busrt_broadcast(busrt_client *c, const char *mask, const void *payload, size_t len, int qos);

/* 1 while the connection is up */
int busrt_is_connected(busrt_client *c);
/* the code that ended the connection (0 while up) */
int busrt_last_error(busrt_client *c);
const char *busrt_client_name(const busrt_client *c);
double busrt_timeout(const busrt_client *c);

/* Closes the socket, fails every waiter with BUSRT_ERR_IO, joins the reader
 * and frees. Not from a callback. NULL is fine. */
void busrt_close(busrt_client *c);

/* --- for the RPC layer (busrt_rpc.c); not for applications --- */
/* takes MESSAGE frames before on_frame sees them; returns 1 when consumed */
typedef int (*busrt_message_hook)(void *ctx, const busrt_frame *f);
void busrt_set_message_hook(busrt_client *c, busrt_message_hook hook, void *ctx);
/* the connection ended: the RPC layer fails its calls */
typedef void (*busrt_down_hook)(void *ctx, int err);
void busrt_set_down_hook(busrt_client *c, busrt_down_hook hook, void *ctx);

#endif
