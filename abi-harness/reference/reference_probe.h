/* The probe variant's hooks (reference_probe.c; built with -DRELY_PROBE). */
#ifndef REFERENCE_PROBE_H
#define REFERENCE_PROBE_H

#include <eva_ffi.h>
#include <msgpack.h>

#include <stddef.h>
#include <stdint.h>

void probe_set_op(eva_ffi_op_fn f);
void probe_init(const struct EvaFFIBuffer *initial);
void probe_prepare(void);
void probe_launch(void);
void probe_terminate(void);
void probe_frame(const struct EvaFFIFrame *fr);
size_t probe_method_count(void);
int probe_pack_methods(msgpack_packer *pk);
/* METHOD_NOT_FOUND when m is not a probe method; else the result in out */
int32_t probe_call(const char *m, size_t n, const char *payload, size_t payload_len, msgpack_sbuffer *out);

#endif
