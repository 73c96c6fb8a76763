#include "errcode.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eva_ffi.h"

#define HARNESS_ERRCODE(name) {#name, EVA_ERR_CODE_##name}

static const struct {
    const char *name;
    int code;
} harness_errcodes[] = {
    {"OK", EVA_OK},
    HARNESS_ERRCODE(NOT_FOUND),
    HARNESS_ERRCODE(ACCESS_DENIED),
    HARNESS_ERRCODE(SYSTEM_ERROR),
    HARNESS_ERRCODE(OTHER),
    HARNESS_ERRCODE(NOT_READY),
    HARNESS_ERRCODE(UNSUPPORTED),
    HARNESS_ERRCODE(CORE_ERROR),
    HARNESS_ERRCODE(TIMEOUT),
    HARNESS_ERRCODE(INVALID_DATA),
    HARNESS_ERRCODE(FUNC_FAILED),
    HARNESS_ERRCODE(ABORTED),
    HARNESS_ERRCODE(ALREADY_EXISTS),
    HARNESS_ERRCODE(BUSY),
    HARNESS_ERRCODE(METHOD_NOT_IMPLEMENTED),
    HARNESS_ERRCODE(TOKEN_RESTRICTED),
    HARNESS_ERRCODE(IO),
    HARNESS_ERRCODE(REGISTRY),
    HARNESS_ERRCODE(EVAHI_AUTH_REQUIRED),
    HARNESS_ERRCODE(ACCESS_DENIED_MORE_DATA_REQUIRED),
    HARNESS_ERRCODE(PARSE),
    HARNESS_ERRCODE(INVALID_REQUEST),
    HARNESS_ERRCODE(METHOD_NOT_FOUND),
    HARNESS_ERRCODE(INVALID_PARAMS),
    HARNESS_ERRCODE(INTERNAL_RPC),
    HARNESS_ERRCODE(BUS_CLIENT_NOT_REGISTERED),
    HARNESS_ERRCODE(BUS_DATA),
    HARNESS_ERRCODE(BUS_IO),
    HARNESS_ERRCODE(BUS_OTHER),
    HARNESS_ERRCODE(BUS_NOT_SUPPORTED),
    HARNESS_ERRCODE(BUS_BUSY),
    HARNESS_ERRCODE(BUS_NOT_DELIVERED),
    HARNESS_ERRCODE(BUS_TIMEOUT),
    HARNESS_ERRCODE(BUS_ACCESS),
};

#define HARNESS_ERRCODE_COUNT (sizeof harness_errcodes / sizeof harness_errcodes[0])

const char *harness_errcode_name(int code)
{
    for (size_t i = 0; i < HARNESS_ERRCODE_COUNT; i++) {
        if (harness_errcodes[i].code == code) return harness_errcodes[i].name;
    }
    return NULL;
}

int harness_errcode_parse(const char *text, int *code)
{
    if (*text == '-' || isdigit((unsigned char)*text)) {
        char *end;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (errno || *end || v < -2147483648L || v > 2147483647L) return -1;
        *code = (int)v;
        return 0;
    }
    if (strncasecmp(text, "EVA_", 4) == 0) text += 4;
    if (strncasecmp(text, "ERR_CODE_", 9) == 0) text += 9;
    for (size_t i = 0; i < HARNESS_ERRCODE_COUNT; i++) {
        if (strcasecmp(text, harness_errcodes[i].name) == 0) {
            *code = harness_errcodes[i].code;
            return 0;
        }
    }
    return -1;
}
