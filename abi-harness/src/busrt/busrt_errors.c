/* Broker result bytes and their RPC codes (busrt-protocol.md §3.3). */
#include "busrt_client.h"

int busrt_result_code(uint8_t result)
{
    if (result == 0x01)
        return 0;
    if (result >= 0x71 && result <= 0x79)
        return -32000 - (int)result;
    /* the Rust client maps unknown bytes to OTHER */
    return BUSRT_ERR_OTHER;
}

const char *busrt_error_name(int code)
{
    switch (code) {
    case BUSRT_ERR_NOT_REGISTERED: return "BUS_CLIENT_NOT_REGISTERED";
    case BUSRT_ERR_DATA: return "BUS_DATA";
    case BUSRT_ERR_IO: return "BUS_IO";
    case BUSRT_ERR_OTHER: return "BUS_OTHER";
    case BUSRT_ERR_NOT_SUPPORTED: return "BUS_NOT_SUPPORTED";
    case BUSRT_ERR_BUSY: return "BUS_BUSY";
    case BUSRT_ERR_NOT_DELIVERED: return "BUS_NOT_DELIVERED";
    case BUSRT_ERR_TIMEOUT: return "BUS_TIMEOUT";
    case BUSRT_ERR_ACCESS: return "BUS_ACCESS";
    default: return NULL;
    }
}
