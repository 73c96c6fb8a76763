/* Exposes the project's ABI headers and libmsgpack to Swift. */
#include "../../include/eva_ffi.h"
#include <msgpack.h>
