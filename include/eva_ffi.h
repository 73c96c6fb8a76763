/* Umbrella header for the EVA ICS v4 FFI service ABI, version 1. */
#ifndef EVA_FFI_H
#define EVA_FFI_H

#include "eva/ffi_abi.h"
#include "eva/ffi_errors.h"
#include "eva/ffi_ops.h"
#include "eva/status.h"
#include "eva/topics.h"

#endif
