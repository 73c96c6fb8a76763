/* The greeting and the registration (busrt-protocol.md §2). */
#ifndef BUSRT_HANDSHAKE_H
#define BUSRT_HANDSHAKE_H

/* On a fresh connection: checks and echoes the greeting, sends the name and
 * reads the registration result. 0, or BUSRT_ERR_NOT_SUPPORTED (greeting),
 * the result byte's code (BUSY, DATA, NOT_REGISTERED, ACCESS), BUSRT_ERR_IO
 * (the broker closed, e.g. for a name that is not UTF-8), BUSRT_ERR_TIMEOUT,
 * BUSRT_ERR_DATA (a name over 65535 bytes or empty). */
int busrt_handshake(int fd, const char *name, double deadline);

#endif
