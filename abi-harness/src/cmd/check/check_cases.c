#include "check_cases.h"

#include <ctype.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* ---------------------------------------------------------------- cases */

struct harness_cases {
    struct harness_check_case *v;
    size_t n, cap;
};

static struct harness_check_case *harness_cases_add(struct harness_cases *c, const char *label, const void *data,
                                                    size_t len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->v = harness_xrealloc(c->v, c->cap * sizeof *c->v);
    }
    struct harness_check_case *k = &c->v[c->n++];
    memset(k, 0, sizeof *k);
    k->label = harness_xstrdup(label);
    k->data = harness_xmemdup(data, len);
    k->len = len;
    return k;
}

void harness_check_cases_free(struct harness_check_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(cases[i].label);
        free(cases[i].data);
    }
    free(cases);
}

static const char *harness_cases_real_method(const struct harness_check_methods *m)
{
    for (size_t i = 0; i < m->count; i++) {
        const char *n = m->names[i];
        if (*n && strcmp(n, "test") && strcmp(n, "info") && strcmp(n, "stop")) return n;
    }
    return NULL;
}

size_t harness_check_method_cases(const struct harness_check_methods *m, struct harness_check_case **out)
{
    struct harness_cases c = {0};
    harness_cases_add(&c, "empty (size 0 at a guard page)", "", 0)->guard = 1;
    harness_cases_add(&c, "non-UTF-8 bytes", "\xff\xfe\x80\xc0\xc1", 5);
    harness_cases_add(&c, "embedded NUL", "te\0st", 5);
    harness_cases_add(&c, "binary bytes", "\x01\x02\x03\x00\x7f", 5);
    harness_cases_add(&c, "a single NUL", "\0", 1);
    harness_cases_add(&c, "unknown name not NUL-terminated at a guard page", "no.such.method", 14)->guard = 1;
    char *big = harness_xmalloc(65536);
    memset(big, 'a', 65536);
    harness_cases_add(&c, "64 KiB name", big, 65536);
    memcpy(big, "no.such.", 8);
    harness_cases_add(&c, "64 KiB name at a guard page", big, 65536)->guard = 1;
    free(big);
    const char *real = harness_cases_real_method(m);
    if (real) {
        size_t n = strlen(real);
        struct harness_strbuf label = HARNESS_STRBUF_INIT, data = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&label, "\"%s\" + NUL", real);
        harness_strbuf_append(&data, real, n + 1);
        harness_cases_add(&c, label.data, data.data, data.len);
        harness_strbuf_reset(&label);
        harness_strbuf_reset(&data);
        harness_strbuf_appendf(&label, "\"%s\" + junk", real);
        harness_strbuf_appendf(&data, "%sjunk", real);
        harness_cases_add(&c, label.data, data.data, data.len);
        harness_strbuf_reset(&label);
        harness_strbuf_reset(&data);
        harness_strbuf_appendf(&label, "\"%s\" + NUL + junk", real);
        harness_strbuf_append(&data, real, n + 1);
        harness_strbuf_append_str(&data, "junk");
        harness_cases_add(&c, label.data, data.data, data.len);
        if (n > 1) {
            harness_strbuf_reset(&label);
            harness_strbuf_appendf(&label, "prefix \"%.*s\"", (int)(n - 1), real);
            harness_cases_add(&c, label.data, real, n - 1);
        }
        harness_strbuf_reset(&label);
        harness_strbuf_reset(&data);
        for (size_t i = 0; i < n; i++) harness_strbuf_append_char(&data, (char)toupper((unsigned char)real[i]));
        if (strcmp(data.data, real)) {
            harness_strbuf_appendf(&label, "upper case \"%s\"", data.data);
            harness_cases_add(&c, label.data, data.data, data.len);
        }
        harness_strbuf_reset(&label);
        harness_strbuf_appendf(&label, "\"%s\" not NUL-terminated at a guard page (real method: any answer)", real);
        struct harness_check_case *k = harness_cases_add(&c, label.data, real, n);
        k->guard = 1;
        harness_strbuf_destroy(&label);
        harness_strbuf_destroy(&data);
    }
    for (size_t i = 0; i < c.n; i++) {
        /* all but the real method at the guard page must be not found */
        if (!(real && c.v[i].guard && c.v[i].len == strlen(real) && !memcmp(c.v[i].data, real, c.v[i].len)))
            c.v[i].expect_not_found = 1;
    }
    *out = c.v;
    return c.n;
}

/* pack helpers: each case is one value built with msgpack-c */
struct harness_cases_pk {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static msgpack_packer *harness_cases_pk_begin(struct harness_cases_pk *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
    return &p->pk;
}

static void harness_cases_pk_end(struct harness_cases *c, struct harness_cases_pk *p, const char *label)
{
    harness_cases_add(c, label, p->sb.data, p->sb.size)->is_msgpack = 1;
    msgpack_sbuffer_destroy(&p->sb);
}

enum harness_cases_kind { K_NIL, K_TRUE, K_INT, K_NEG, K_BIG, K_FLOAT, K_STR, K_EMPTY_STR, K_ARRAY, K_MAP, K_BIN, K_EXT,
                          K_LONG_STR, K_COUNT };

static const char *const harness_cases_kind_names[K_COUNT] = {
    "nil", "true", "int 7", "int -1", "u64 max", "float 1.5", "str", "empty str", "array", "map", "bin", "ext",
    "64 KiB str"};

static void harness_cases_pack_kind(msgpack_packer *pk, enum harness_cases_kind k)
{
    switch (k) {
    case K_NIL: msgpack_pack_nil(pk); break;
    case K_TRUE: msgpack_pack_true(pk); break;
    case K_INT: msgpack_pack_int(pk, 7); break;
    case K_NEG: msgpack_pack_int(pk, -1); break;
    case K_BIG: msgpack_pack_uint64(pk, UINT64_MAX); break;
    case K_FLOAT: msgpack_pack_double(pk, 1.5); break;
    case K_STR: msgpack_pack_str_with_body(pk, "x:y/z", 5); break;
    case K_EMPTY_STR: msgpack_pack_str_with_body(pk, "", 0); break;
    case K_ARRAY:
        msgpack_pack_array(pk, 2);
        msgpack_pack_int(pk, 1);
        msgpack_pack_str_with_body(pk, "a", 1);
        break;
    case K_MAP:
        msgpack_pack_map(pk, 1);
        msgpack_pack_str_with_body(pk, "a", 1);
        msgpack_pack_int(pk, 1);
        break;
    case K_BIN: msgpack_pack_bin_with_body(pk, "\x00\x01\x02\x03", 4); break;
    case K_EXT: msgpack_pack_ext_with_body(pk, "\x00\x01", 2, 5); break;
    case K_LONG_STR: {
        char *s = harness_xmalloc(65536);
        memset(s, 'x', 65536);
        msgpack_pack_str_with_body(pk, s, 65536);
        free(s);
        break;
    }
    default: msgpack_pack_nil(pk); break;
    }
}

int harness_check_unpack(const char *data, size_t len)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object obj;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack(data, len, &off, &zone, &obj);
    msgpack_zone_destroy(&zone);
    return rc;
}

/* not one complete MessagePack value (truncated, reserved byte) */
static int harness_cases_is_msgpack(const char *data, size_t len)
{
    int rc = harness_check_unpack(data, len);
    /* extra bytes after a value and msgpack-c's own nesting limit are not
     * "not MessagePack": lenient decoders may accept them */
    return rc == MSGPACK_UNPACK_SUCCESS || rc == MSGPACK_UNPACK_EXTRA_BYTES || rc == MSGPACK_UNPACK_NOMEM_ERROR;
}

size_t harness_check_payload_cases(const struct harness_check_methods *m, size_t method_index, struct harness_rng *rng,
                                   struct harness_check_case **out)
{
    struct harness_cases c = {0};
    /* not MessagePack: each must be refused */
    static const struct {
        const char *label;
        const char *data;
        size_t len;
    } raw[] = {
        {"truncated map", "\x82\xa1i", 3},
        {"truncated str", "\xa5" "ab", 3},
        {"reserved byte 0xc1", "\xc1", 1},
        {"str32 declaring 4 GiB, 3 bytes given", "\xdb\xff\xff\xff\xff" "abc", 8},
        {"bin32 declaring 4 GiB", "\xc6\xff\xff\xff\xff\x00", 6},
        {"array32 declaring 4G items", "\xdd\xff\xff\xff\xff\xc0", 6},
        {"map32 declaring 4G pairs", "\xdf\xff\xff\xff\xff\xa1i\xc0", 8},
        {"ext32 declaring 4 GiB", "\xc9\xff\xff\xff\xff\x01\x00", 7},
        {"truncated float64", "\xcb\x40\x09", 3},
        {"map with a str32 value declaring 2 GiB", "\x81\xa1i\xdb\x7f\xff\xff\xff" "x", 9},
        {"truncated uint64", "\xcf\x00\x01", 3},
        {"JSON text", "{\"i\": 1}", 8},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) harness_cases_add(&c, raw[i].label, raw[i].data, raw[i].len);
    for (int i = 0; i < 8; i++) {
        size_t len = 1 + harness_rng_below(rng, i < 4 ? 16 : 300);
        char *buf = harness_xmalloc(len);
        harness_rng_fill(rng, buf, len);
        char label[64];
        snprintf(label, sizeof label, "%zu random bytes", len);
        harness_cases_add(&c, label, buf, len)->is_msgpack = harness_cases_is_msgpack(buf, len);
        free(buf);
    }
    /* a real-looking map cut short */
    struct harness_cases_pk p;
    msgpack_packer *pk = harness_cases_pk_begin(&p);
    size_t np = m->param_counts ? m->param_counts[method_index] : 0;
    msgpack_pack_map(pk, (uint32_t)(np ? np : 1));
    for (size_t j = 0; j < (np ? np : 1); j++) {
        const char *name = np ? m->params[method_index][j] : "i";
        msgpack_pack_str_with_body(pk, name, strlen(name));
        msgpack_pack_str_with_body(pk, "sensor:tests/x", 14);
    }
    if (p.sb.size > 1) harness_cases_add(&c, "a params map cut in half", p.sb.data, p.sb.size / 2 ? p.sb.size / 2 : 1);
    msgpack_sbuffer_destroy(&p.sb);

    /* MessagePack of the wrong shape: anything but a crash or a hang */
    for (int k = 0; k < K_COUNT; k++) {
        pk = harness_cases_pk_begin(&p);
        harness_cases_pack_kind(pk, (enum harness_cases_kind)k);
        char label[64];
        snprintf(label, sizeof label, "a bare %s", harness_cases_kind_names[k]);
        harness_cases_pk_end(&c, &p, label);
    }
    pk = harness_cases_pk_begin(&p);
    msgpack_pack_map(pk, 0);
    harness_cases_pk_end(&c, &p, "an empty map");
    for (size_t j = 0; j < np; j++) {
        const char *name = m->params[method_index][j];
        for (int k = 0; k < K_COUNT; k++) {
            pk = harness_cases_pk_begin(&p);
            msgpack_pack_map(pk, 1);
            msgpack_pack_str_with_body(pk, name, strlen(name));
            harness_cases_pack_kind(pk, (enum harness_cases_kind)k);
            char label[160];
            snprintf(label, sizeof label, "{%s: %s}", name, harness_cases_kind_names[k]);
            harness_cases_pk_end(&c, &p, label);
        }
    }
    if (np > 1) {
        for (int k = 0; k < K_COUNT; k += 3) {
            pk = harness_cases_pk_begin(&p);
            msgpack_pack_map(pk, (uint32_t)np);
            for (size_t j = 0; j < np; j++) {
                msgpack_pack_str_with_body(pk, m->params[method_index][j], strlen(m->params[method_index][j]));
                harness_cases_pack_kind(pk, (enum harness_cases_kind)k);
            }
            char label[96];
            snprintf(label, sizeof label, "every param a %s", harness_cases_kind_names[k]);
            harness_cases_pk_end(&c, &p, label);
        }
    }
    pk = harness_cases_pk_begin(&p);
    msgpack_pack_map(pk, 2);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 2);
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
    harness_cases_pk_end(&c, &p, "a map with non-string keys");
    pk = harness_cases_pk_begin(&p);
    msgpack_pack_map(pk, 1000);
    for (int j = 0; j < 1000; j++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", j);
        msgpack_pack_str_with_body(pk, key, (size_t)n);
        msgpack_pack_int(pk, j);
    }
    harness_cases_pk_end(&c, &p, "a map of 1000 unknown keys");
    /* deep nesting: valid MessagePack that recursive decoders choke on */
    size_t depth = 100000;
    char *deep = harness_xmalloc(depth + 1);
    memset(deep, 0x91, depth);
    deep[depth] = (char)0xc0;
    harness_cases_add(&c, "arrays nested 100000 deep", deep, depth + 1)->is_msgpack = 1;
    for (size_t j = 0; j < depth; j += 2) {
        deep[j] = (char)0x81;
        deep[j + 1] = (char)0xa0; /* {"": {"": ...}} */
    }
    deep[depth] = (char)0xc0;
    harness_cases_add(&c, "maps nested 50000 deep", deep, depth + 1)->is_msgpack = 1;
    free(deep);
    *out = c.v;
    return c.n;
}

/* --------------------------------------------------------------- frames */

static char *harness_cases_random_topic(struct harness_rng *rng, char **subs, size_t sub_count)
{
    static const char *const known[] = {"ST/LOC/sensor/env/temp", "ST/REM/unit/a/b", "RAW/sensor/x", "RAW",
                                        "SVC/ST", "ACT/unit/tests/u1", "LOG/IN/info", "", "#", "+/+",
                                        "ST/LOC/", "ST/LOC/lvar/x/y/z/w/v"};
    struct harness_strbuf t = HARNESS_STRBUF_INIT;
    uint64_t pick = harness_rng_below(rng, 4);
    if (pick == 0 && sub_count) {
        /* a subscribed mask with its wildcards filled in */
        const char *s = subs[harness_rng_below(rng, sub_count)];
        for (; *s; s++) {
            if (*s == '+') harness_strbuf_append_str(&t, harness_rng_below(rng, 2) ? "x" : "");
            else if (*s == '#') harness_strbuf_append_str(&t, harness_rng_below(rng, 2) ? "a/b/c" : "sensor:x");
            else harness_strbuf_append_char(&t, *s);
        }
    } else if (pick == 1) {
        harness_strbuf_append_str(&t, known[harness_rng_below(rng, sizeof known / sizeof known[0])]);
    } else {
        size_t len = harness_rng_below(rng, pick == 2 ? 40 : 600);
        for (size_t i = 0; i < len; i++) {
            char ch = (char)(1 + harness_rng_below(rng, 255)); /* anything but NUL */
            harness_strbuf_append_char(&t, ch);
        }
    }
    return harness_strbuf_detach(&t, NULL);
}

void harness_check_frame_make(struct harness_check_frame *f, struct harness_rng *rng, char **subs, size_t sub_count)
{
    memset(f, 0, sizeof *f);
    f->kind = (unsigned char)(harness_rng_below(rng, 4) ? 0x01 : harness_rng_below(rng, 256));
    f->sender = harness_rng_below(rng, 4) ? harness_xstrdup("eva.core") : harness_cases_random_topic(rng, NULL, 0);
    f->topic = harness_cases_random_topic(rng, subs, sub_count);
    struct harness_cases_pk p;
    msgpack_packer *pk;
    switch (harness_rng_below(rng, 8)) {
    case 0: /* NULL payload, size 0 */
        break;
    case 1: /* empty payload behind a real pointer */
        f->payload = harness_xmalloc(1);
        break;
    case 2: { /* random bytes */
        f->payload_len = 1 + harness_rng_below(rng, 200);
        f->payload = harness_xmalloc(f->payload_len);
        harness_rng_fill(rng, f->payload, f->payload_len);
        break;
    }
    case 3: /* a non-map value */
        pk = harness_cases_pk_begin(&p);
        harness_cases_pack_kind(pk, (enum harness_cases_kind)harness_rng_below(rng, K_LONG_STR));
        f->payload = harness_xmemdup(p.sb.data, p.sb.size);
        f->payload_len = p.sb.size;
        msgpack_sbuffer_destroy(&p.sb);
        break;
    case 4: /* a state map with wrong types */
        pk = harness_cases_pk_begin(&p);
        msgpack_pack_map(pk, 2);
        msgpack_pack_str_with_body(pk, "status", 6);
        harness_cases_pack_kind(pk, (enum harness_cases_kind)harness_rng_below(rng, K_LONG_STR));
        msgpack_pack_str_with_body(pk, "value", 5);
        harness_cases_pack_kind(pk, (enum harness_cases_kind)harness_rng_below(rng, K_LONG_STR));
        f->payload = harness_xmemdup(p.sb.data, p.sb.size);
        f->payload_len = p.sb.size;
        msgpack_sbuffer_destroy(&p.sb);
        break;
    case 5: /* a good state map */
        pk = harness_cases_pk_begin(&p);
        msgpack_pack_map(pk, 3);
        msgpack_pack_str_with_body(pk, "status", 6);
        msgpack_pack_int(pk, 1);
        msgpack_pack_str_with_body(pk, "value", 5);
        msgpack_pack_double(pk, harness_rng_unit(rng) * 100);
        msgpack_pack_str_with_body(pk, "t", 1);
        msgpack_pack_double(pk, 1700000000.0);
        f->payload = harness_xmemdup(p.sb.data, p.sb.size);
        f->payload_len = p.sb.size;
        msgpack_sbuffer_destroy(&p.sb);
        break;
    case 6: /* huge declared length */
        f->payload = harness_xmemdup("\x82\xa6status\x01\xa5value\xdb\xff\xff\xff\xf0zz", 22);
        f->payload_len = 22;
        break;
    default: /* truncated map */
        f->payload = harness_xmemdup("\x82\xa6status", 8);
        f->payload_len = 8;
        break;
    }
}

void harness_check_frame_free(struct harness_check_frame *f)
{
    free(f->sender);
    free(f->topic);
    free(f->payload);
}
