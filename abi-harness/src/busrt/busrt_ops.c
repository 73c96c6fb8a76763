/* The client's operations: publish, publish_for, subscribe family, message,
 * broadcast (bodies as in busrt-protocol.md §3.1). */
#include <stdlib.h>
#include <string.h>

#include "busrt_client_internal.h"

static char nul[1];

static struct iovec part(const void *p, size_t len)
{
    struct iovec v = {(void *)p, len};
    return v;
}

int busrt_publish(busrt_client *c, const char *topic, const void *payload, size_t len, int qos)
{
    struct iovec iov[3] = {part(topic, strlen(topic)), part(nul, 1), part(payload, len)};
    return busrt_send_wait(c, BUSRT_OP_PUBLISH, qos, iov, 3);
}

int busrt_publish_for(busrt_client *c, const char *topic, const char *receiver,
    const void *payload, size_t len, int qos)
{
    struct iovec iov[5] = {part(topic, strlen(topic)), part(nul, 1), part(receiver, strlen(receiver)),
        part(nul, 1), part(payload, len)};
    return busrt_send_wait(c, BUSRT_OP_PUBLISH_FOR, qos, iov, 5);
}

/* topics joined by NUL, no trailing NUL */
static int topic_list(busrt_client *c, enum busrt_op op, const char *const *topics, size_t n, int qos)
{
    if (n == 0)
        return 0;
    if (n > 1000000)
        return BUSRT_ERR_DATA;
    struct iovec *iov = malloc(sizeof *iov * (2 * n - 1));
    if (!iov)
        return BUSRT_ERR_OTHER;
    for (size_t i = 0; i < n; i++) {
        if (i)
            iov[2 * i - 1] = part(nul, 1);
        iov[2 * i] = part(topics[i], strlen(topics[i]));
    }
    int rc = busrt_send_wait(c, op, qos, iov, (int)(2 * n - 1));
    free(iov);
    return rc;
}

int busrt_subscribe(busrt_client *c, const char *const *topics, size_t n, int qos)
{
    return topic_list(c, BUSRT_OP_SUBSCRIBE, topics, n, qos);
}

int busrt_unsubscribe(busrt_client *c, const char *const *topics, size_t n, int qos)
{
    return topic_list(c, BUSRT_OP_UNSUBSCRIBE, topics, n, qos);
}

int busrt_send(busrt_client *c, const char *target, const void *payload, size_t len, int qos)
{
    struct iovec iov[3] = {part(target, strlen(target)), part(nul, 1), part(payload, len)};
    return busrt_send_wait(c, BUSRT_OP_MESSAGE, qos, iov, 3);
}

int busrt_broadcast(busrt_client *c, const char *mask, const void *payload, size_t len, int qos)
{
    struct iovec iov[3] = {part(mask, strlen(mask)), part(nul, 1), part(payload, len)};
    return busrt_send_wait(c, BUSRT_OP_BROADCAST, qos, iov, 3);
}
