/* The greeting and the registration: see busrt_handshake.h. */
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "busrt_client.h"
#include "busrt_handshake.h"
#include "busrt_transport.h"

#define GREETING 0xEB
#define PROTOCOL_VERSION 1

int busrt_handshake(int fd, const char *name, double deadline)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > 65535)
        return BUSRT_ERR_DATA;
    uint8_t hello[3];
    int rc = busrt_read_exact(fd, hello, 3, deadline);
    if (rc)
        return rc;
    if (hello[0] != GREETING || (hello[1] | hello[2] << 8) != PROTOCOL_VERSION)
        return BUSRT_ERR_NOT_SUPPORTED;
    struct iovec echo = {hello, 3};
    if ((rc = busrt_write_parts(fd, &echo, 1)))
        return rc;
    uint8_t result;
    if ((rc = busrt_read_exact(fd, &result, 1, deadline)))
        return rc;
    if (result != 0x01)
        return busrt_result_code(result);
    uint8_t len[2] = {(uint8_t)nl, (uint8_t)(nl >> 8)};
    struct iovec reg[2] = {{len, 2}, {(void *)name, nl}};
    if ((rc = busrt_write_parts(fd, reg, 2)))
        return rc;
    if ((rc = busrt_read_exact(fd, &result, 1, deadline)))
        return rc;
    return busrt_result_code(result);
}
