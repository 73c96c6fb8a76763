/* The socket under a client (busrt-protocol.md §1): the address rule, a
 * connect bounded by a deadline, TCP_NODELAY on TCP, and exact reads/writes
 * with deadlines. Times are CLOCK_MONOTONIC seconds (harness_clock_now). */
#ifndef BUSRT_TRANSPORT_H
#define BUSRT_TRANSPORT_H

#include <stddef.h>
#include <sys/uio.h>

/* 1 when addr names a Unix socket (ends in .sock/.socket/.ipc or starts
 * with '/'), else 0 (TCP host:port) */
int busrt_addr_is_unix(const char *addr);

/* A connected blocking socket, or -1 with *err (BUSRT_ERR_IO: refused,
 * unresolvable, bad address -- errno says why; BUSRT_ERR_TIMEOUT). */
int busrt_transport_connect(const char *addr, double deadline, int *err);

/* 0, or a BUSRT_ERR_* code (IO: EOF or socket error; TIMEOUT) */
int busrt_read_exact(int fd, void *buf, size_t n, double deadline);
/* writes every byte of the parts: 0, BUSRT_ERR_IO or BUSRT_ERR_TIMEOUT
 * (the socket's send timeout, set by busrt_set_send_timeout) */
int busrt_write_parts(int fd, struct iovec *iov, int n);
void busrt_set_send_timeout(int fd, double seconds);

#endif
