/* A launcher for the fuzz targets: the op function the library gets, and
 * the checks that what the library hands the launcher is well formed. A
 * violation prints what was wrong and aborts, so libFuzzer reports it as a
 * finding.
 *
 *   PUBLISH          topic NUL-terminated inside the buffer, RAW... or ACT/
 *                    topic, payload exactly one MessagePack value (or none);
 *                    every `busy_every`-th publish answers BUSY
 *   SUBSCRIBE/UNSUB  NUL-terminated topics filling the buffer
 *   RPC_CALL         target NUL method NUL [params]: eva.registry key_get /
 *                    key_set keep one value in memory (across sessions, as the
 *                    node's registry does); method "fail" of any other target
 *                    answers FUNC_FAILED, "none" no payload, anything else
 *                    echoes the params (nil when absent)
 *   GET_RPC_RESULT   only right after an RPC_CALL with a result, on the same
 *                    thread; alternates the node's way (repoint the buffer at
 *                    the launcher's copy) and the ABI text's (copy into it)
 *   LOG_*            bytes readable; POC aborts; op calls after svc_terminate
 *                    returned (fuzz_launcher_close) abort. */
#ifndef FUZZ_LAUNCHER_H
#define FUZZ_LAUNCHER_H

#include <stddef.h>
#include <stdint.h>

/* The op function (its buffer is struct EvaFFIBuffer *). */
int32_t fuzz_op(int16_t op, void *buffer);

/* A session begins (op calls allowed) / svc_terminate returned (none). */
void fuzz_launcher_open(void);
void fuzz_launcher_close(void);
/* 0 = never BUSY */
void fuzz_launcher_set_busy_every(unsigned n);
/* Every n-th RPC call to a target other than the registry fails (0 = never). */
void fuzz_launcher_set_rpc_error_every(unsigned n);
/* Forgets the registry's value. */
void fuzz_launcher_clear_registry(void);
/* 1 when the library asked to TERMINATE since the last call (and clears it). */
int fuzz_launcher_take_terminate(void);

/* 1 when the bytes are exactly one well-formed MessagePack value. */
int fuzz_msgpack_single(const void *data, size_t len);
/* 1 when the bytes are one MessagePack map. */
int fuzz_msgpack_is_map(const void *data, size_t len);
/* 1 when code is one of the ABI's error codes. */
int fuzz_known_error(int32_t code);
/* libFuzzer's driver, for a target's own main: SwiftPM links an executable
 * target's entry as <module>_main (and points main at it), so each target
 * defines that and hands its input function to this. */
int fuzz_run_driver(int argc, char **argv, int (*test_one_input)(const uint8_t *data, size_t size));

/* LeakSanitizer's check of the heap as it is now (0 when it found no leak,
 * or when the build has no LeakSanitizer); it prints what it found. */
int fuzz_leak_check(void);

/* Prints "finding: <what>" on stderr and aborts. */
void fuzz_violation(const char *what) __attribute__((noreturn));

#endif
