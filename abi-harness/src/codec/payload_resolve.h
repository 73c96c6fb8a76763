/* Turning a parsed YAML/JSON value (a "template") into MessagePack bytes:
 * {"$bin": "hex"} becomes bin, {"$uuid": "name"} becomes a 16-byte bin that
 * is random per run but the same for the same name within the run, and with
 * a substitution context "{t}"/"{n}" in strings become the stress thread
 * index and iteration (a string that is exactly "{t}" or "{n}" becomes an
 * integer). */
#ifndef HARNESS_PAYLOAD_RESOLVE_H
#define HARNESS_PAYLOAD_RESOLVE_H

#include <msgpack.h>
#include <stddef.h>

#include "strbuf.h"

struct harness_subst {
    int active;
    long long t;
    long long n;
};

/* what a special map stands for */
enum harness_payload_special {
    HARNESS_PAYLOAD_PLAIN = 0,
    HARNESS_PAYLOAD_BIN,  /* {"$bin": hex} */
    HARNESS_PAYLOAD_UUID, /* {"$uuid": name} */
};

enum harness_payload_special harness_payload_special_kind(const msgpack_object *obj);

/* pack tmpl; -1 with a message in err (bad hex, bad $uuid) */
int harness_payload_pack(msgpack_packer *pk, const msgpack_object *tmpl, const struct harness_subst *subst,
                         struct harness_strbuf *err);
/* the same into a fresh malloc'd buffer */
int harness_payload_pack_bytes(const msgpack_object *tmpl, const struct harness_subst *subst, char **data,
                               size_t *len, struct harness_strbuf *err);
/* 1 when some string inside holds {t} or {n} (so packing once is not enough) */
int harness_payload_has_placeholders(const msgpack_object *tmpl);
/* substitute {t}/{n} in text; sets *whole_int when the text is exactly a
 * placeholder (out then holds the number as text too) */
void harness_payload_subst_text(const char *s, size_t len, const struct harness_subst *subst,
                                struct harness_strbuf *out, int *whole_int, long long *int_value);
/* the bytes of a special map: hex of $bin, or the uuid of a $uuid name.
 * buf must hold at least the hex length / 2 (or 16). -1 when invalid. */
int harness_payload_special_bytes(const msgpack_object *obj, const struct harness_subst *subst, unsigned char *buf,
                                  size_t cap, size_t *len, struct harness_strbuf *err);
/* the per-run uuid of a name */
void harness_payload_uuid_for(const char *name, size_t len, unsigned char out[16]);
/* drop the name table (end of the process, for leak checkers) */
void harness_payload_uuid_reset(void);

#endif
