/* The socket under a client: see busrt_transport.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "busrt_client.h"
#include "busrt_transport.h"
#include "clock.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int busrt_addr_is_unix(const char *addr)
{
    return addr[0] == '/' || ends_with(addr, ".sock") || ends_with(addr, ".socket") || ends_with(addr, ".ipc");
}

static int ms_left(double deadline)
{
    double left = deadline - harness_clock_now();
    if (left <= 0)
        return 0;
    return left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1;
}

/* a non-blocking connect waited for until the deadline; the socket ends
 * blocking again */
static int connect_by(int fd, const struct sockaddr *sa, socklen_t len, double deadline, int *err)
{
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (connect(fd, sa, len) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            *err = BUSRT_ERR_IO;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r;
        do
            r = poll(&p, 1, ms_left(deadline));
        while (r < 0 && errno == EINTR);
        if (r == 0) {
            errno = ETIMEDOUT;
            *err = BUSRT_ERR_TIMEOUT;
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            if (soerr)
                errno = soerr;
            *err = BUSRT_ERR_IO;
            return -1;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return 0;
}

static int connect_unix(const char *path, double deadline, int *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        *err = BUSRT_ERR_IO;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = BUSRT_ERR_IO;
        return -1;
    }
    if (connect_by(fd, (struct sockaddr *)&sa, sizeof sa, deadline, err) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* "host:port" or "[v6]:port" */
static int connect_tcp(const char *addr, double deadline, int *err)
{
    *err = BUSRT_ERR_IO;
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1]) {
        errno = EINVAL;
        return -1;
    }
    size_t hl = (size_t)(colon - addr);
    const char *h = addr;
    if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
        h = addr + 1;
        hl -= 2;
    }
    char *host = strndup(h, hl);
    if (!host)
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gr = getaddrinfo(host, colon + 1, &hints, &res);
    free(host);
    if (gr != 0) {
        errno = gr == EAI_SYSTEM ? errno : EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect_by(fd, ai->ai_addr, ai->ai_addrlen, deadline, err) == 0)
            break;
        int e = errno;
        close(fd);
        errno = e;
        fd = -1;
        if (*err == BUSRT_ERR_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int busrt_transport_connect(const char *addr, double deadline, int *err)
{
    if (!addr || !*addr) {
        errno = EINVAL;
        *err = BUSRT_ERR_IO;
        return -1;
    }
    return busrt_addr_is_unix(addr) ? connect_unix(addr, deadline, err) : connect_tcp(addr, deadline, err);
}

int busrt_read_exact(int fd, void *buf, size_t n, double deadline)
{
    char *p = buf;
    while (n > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, ms_left(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return BUSRT_ERR_TIMEOUT;
        if (r < 0)
            return BUSRT_ERR_IO;
        ssize_t got = read(fd, p, n);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            return BUSRT_ERR_IO;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int busrt_write_parts(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        /* sendmsg for MSG_NOSIGNAL: a broker gone is an error code, not SIGPIPE */
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? BUSRT_ERR_TIMEOUT : BUSRT_ERR_IO;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

void busrt_set_send_timeout(int fd, double seconds)
{
    struct timeval tv = {.tv_sec = (time_t)seconds, .tv_usec = (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}
