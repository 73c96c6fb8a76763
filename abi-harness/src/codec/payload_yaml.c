#include "payload_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "xalloc.h"

/* nesting deeper than this is refused rather than risking the stack */
#define HARNESS_YAML_MAX_DEPTH 512

struct harness_yaml_anchor {
    char *name;
    msgpack_object value;
};

struct harness_yaml_ctx {
    yaml_parser_t parser;
    msgpack_zone *zone;
    struct harness_strbuf *err;
    struct harness_yaml_anchor *anchors;
    size_t anchor_count;
};

static void *harness_yaml_zalloc(struct harness_yaml_ctx *ctx, size_t size)
{
    void *p = msgpack_zone_malloc(ctx->zone, size ? size : 1);
    if (!p) {
        fprintf(stderr, "[critical] harness: out of memory\n");
        abort();
    }
    return p;
}

static int harness_yaml_fail(struct harness_yaml_ctx *ctx, const yaml_mark_t *mark, const char *what)
{
    harness_strbuf_appendf(ctx->err, "%s (line %zu, column %zu)", what, mark->line + 1, mark->column + 1);
    return -1;
}

static int harness_yaml_next(struct harness_yaml_ctx *ctx, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ctx->parser, ev)) {
        const char *problem = ctx->parser.problem ? ctx->parser.problem : "syntax error";
        harness_strbuf_appendf(ctx->err, "%s (line %zu, column %zu)", problem,
                               ctx->parser.problem_mark.line + 1, ctx->parser.problem_mark.column + 1);
        return -1;
    }
    return 0;
}

static void harness_yaml_set_str(struct harness_yaml_ctx *ctx, msgpack_object *o, const char *s, size_t len)
{
    char *copy = harness_yaml_zalloc(ctx, len);
    if (len) memcpy(copy, s, len);
    o->type = MSGPACK_OBJECT_STR;
    o->via.str.ptr = copy;
    o->via.str.size = (uint32_t)len;
}

static int harness_yaml_is_null(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int harness_yaml_bool(const char *s, int *v)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *v = 1;
        return 1;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *v = 0;
        return 1;
    }
    return 0;
}

/* ints: [-+]?[0-9]+, 0x hex, 0o octal. Returns 1 when s is an int. */
static int harness_yaml_int(const char *s, msgpack_object *o)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && p[1] == 'o') {
        base = 8;
        p += 2;
    }
    if (!*p) return 0;
    for (const char *q = p; *q; q++) {
        int ok = base == 16 ? ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F'))
                 : base == 8 ? (*q >= '0' && *q <= '7')
                             : (*q >= '0' && *q <= '9');
        if (!ok) return 0;
    }
    errno = 0;
    unsigned long long v = strtoull(p, NULL, base);
    if (errno == ERANGE || (neg && v > (unsigned long long)INT64_MAX + 1ULL)) {
        /* too big for 64 bits: keep the magnitude as a float */
        o->type = MSGPACK_OBJECT_FLOAT64;
        o->via.f64 = strtod(s, NULL);
        return 1;
    }
    if (neg && v != 0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = v == (unsigned long long)INT64_MAX + 1ULL ? INT64_MIN : -(int64_t)v;
    } else {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = v;
    }
    return 1;
}

static int harness_yaml_float(const char *s, double *v)
{
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        *v = neg ? -INFINITY : INFINITY;
        return 1;
    }
    if (p == s && (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN"))) {
        *v = NAN;
        return 1;
    }
    /* [0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)? with at least one digit and
     * either a dot or an exponent */
    const char *q = p;
    size_t digits = 0;
    int dot = 0, exp = 0;
    while (*q >= '0' && *q <= '9') q++, digits++;
    if (*q == '.') {
        dot = 1;
        q++;
        while (*q >= '0' && *q <= '9') q++, digits++;
    }
    if (!digits) return 0;
    if (*q == 'e' || *q == 'E') {
        exp = 1;
        q++;
        if (*q == '-' || *q == '+') q++;
        if (!(*q >= '0' && *q <= '9')) return 0;
        while (*q >= '0' && *q <= '9') q++;
    }
    if (*q || (!dot && !exp)) return 0;
    *v = strtod(s, NULL);
    return 1;
}

static int harness_yaml_base64(struct harness_yaml_ctx *ctx, const char *s, msgpack_object *o)
{
    size_t len = strlen(s);
    unsigned char *out = harness_yaml_zalloc(ctx, len);
    size_t n = 0;
    unsigned int acc = 0;
    int bits = 0;
    for (const char *p = s; *p; p++) {
        int v;
        char c = *p;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+') v = 62;
        else if (c == '/') v = 63;
        else if (c == '=' || c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        else return -1;
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    o->type = MSGPACK_OBJECT_BIN;
    o->via.bin.ptr = (const char *)out;
    o->via.bin.size = (uint32_t)n;
    return 0;
}

#define HARNESS_YAML_TAG(t) "tag:yaml.org,2002:" t

static int harness_yaml_scalar(struct harness_yaml_ctx *ctx, yaml_event_t *ev, msgpack_object *o)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    /* a scalar with a NUL inside can only be a string */
    int has_nul = strlen(s) != len;

    if (tag && strcmp(tag, "!") != 0) {
        if (!strcmp(tag, HARNESS_YAML_TAG("str"))) {
            harness_yaml_set_str(ctx, o, s, len);
        } else if (!strcmp(tag, HARNESS_YAML_TAG("null"))) {
            o->type = MSGPACK_OBJECT_NIL;
        } else if (!strcmp(tag, HARNESS_YAML_TAG("bool"))) {
            int b;
            if (has_nul || !harness_yaml_bool(s, &b)) return harness_yaml_fail(ctx, &ev->start_mark, "not a bool");
            o->type = MSGPACK_OBJECT_BOOLEAN;
            o->via.boolean = b;
        } else if (!strcmp(tag, HARNESS_YAML_TAG("int"))) {
            if (has_nul || !harness_yaml_int(s, o)) return harness_yaml_fail(ctx, &ev->start_mark, "not an int");
        } else if (!strcmp(tag, HARNESS_YAML_TAG("float"))) {
            double v;
            msgpack_object tmp;
            if (!has_nul && harness_yaml_float(s, &v)) {
                o->type = MSGPACK_OBJECT_FLOAT64;
                o->via.f64 = v;
            } else if (!has_nul && harness_yaml_int(s, &tmp)) {
                o->type = MSGPACK_OBJECT_FLOAT64;
                o->via.f64 = tmp.type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (double)tmp.via.i64
                             : tmp.type == MSGPACK_OBJECT_FLOAT64      ? tmp.via.f64
                                                                       : (double)tmp.via.u64;
            } else {
                return harness_yaml_fail(ctx, &ev->start_mark, "not a float");
            }
        } else if (!strcmp(tag, HARNESS_YAML_TAG("binary"))) {
            if (has_nul || harness_yaml_base64(ctx, s, o) < 0)
                return harness_yaml_fail(ctx, &ev->start_mark, "bad base64 in !!binary");
        } else {
            harness_strbuf_appendf(ctx->err, "unsupported tag %s ", tag);
            return harness_yaml_fail(ctx, &ev->start_mark, "");
        }
        return 0;
    }
    if (!plain || has_nul || (tag && !strcmp(tag, "!"))) {
        harness_yaml_set_str(ctx, o, s, len);
        return 0;
    }
    int b;
    double v;
    if (harness_yaml_is_null(s)) {
        o->type = MSGPACK_OBJECT_NIL;
    } else if (harness_yaml_bool(s, &b)) {
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = b;
    } else if (harness_yaml_int(s, o)) {
        /* set by harness_yaml_int */
    } else if (harness_yaml_float(s, &v)) {
        o->type = MSGPACK_OBJECT_FLOAT64;
        o->via.f64 = v;
    } else {
        harness_yaml_set_str(ctx, o, s, len);
    }
    return 0;
}

static void harness_yaml_anchor_add(struct harness_yaml_ctx *ctx, const yaml_char_t *name, const msgpack_object *v)
{
    if (!name) return;
    ctx->anchors = harness_xrealloc(ctx->anchors, (ctx->anchor_count + 1) * sizeof *ctx->anchors);
    ctx->anchors[ctx->anchor_count].name = harness_xstrdup((const char *)name);
    ctx->anchors[ctx->anchor_count].value = *v;
    ctx->anchor_count++;
}

static int harness_yaml_node(struct harness_yaml_ctx *ctx, yaml_event_t *ev, msgpack_object *o, int depth);

/* children of a sequence or mapping, collected until the end event */
static int harness_yaml_collection(struct harness_yaml_ctx *ctx, yaml_event_type_t end_type, msgpack_object **items,
                                   size_t *count, int depth)
{
    size_t cap = 8, n = 0;
    msgpack_object *buf = harness_xmalloc(cap * sizeof *buf);
    for (;;) {
        yaml_event_t ev;
        if (harness_yaml_next(ctx, &ev) < 0) {
            free(buf);
            return -1;
        }
        if (ev.type == end_type) {
            yaml_event_delete(&ev);
            break;
        }
        if (n == cap) {
            cap *= 2;
            buf = harness_xrealloc(buf, cap * sizeof *buf);
        }
        int rc = harness_yaml_node(ctx, &ev, &buf[n], depth + 1);
        yaml_event_delete(&ev);
        if (rc < 0) {
            free(buf);
            return -1;
        }
        n++;
    }
    *items = buf;
    *count = n;
    return 0;
}

static int harness_yaml_node(struct harness_yaml_ctx *ctx, yaml_event_t *ev, msgpack_object *o, int depth)
{
    if (depth > HARNESS_YAML_MAX_DEPTH) return harness_yaml_fail(ctx, &ev->start_mark, "nesting too deep");
    memset(o, 0, sizeof *o);
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (harness_yaml_scalar(ctx, ev, o) < 0) return -1;
        harness_yaml_anchor_add(ctx, ev->data.scalar.anchor, o);
        return 0;
    case YAML_ALIAS_EVENT:
        /* the newest anchor of that name wins, as YAML redefinition says */
        for (size_t i = ctx->anchor_count; i-- > 0;) {
            if (!strcmp(ctx->anchors[i].name, (const char *)ev->data.alias.anchor)) {
                *o = ctx->anchors[i].value;
                return 0;
            }
        }
        return harness_yaml_fail(ctx, &ev->start_mark, "unknown alias");
    case YAML_SEQUENCE_START_EVENT: {
        msgpack_object *items;
        size_t n;
        if (harness_yaml_collection(ctx, YAML_SEQUENCE_END_EVENT, &items, &n, depth) < 0) return -1;
        o->type = MSGPACK_OBJECT_ARRAY;
        o->via.array.size = (uint32_t)n;
        o->via.array.ptr = harness_yaml_zalloc(ctx, n * sizeof(msgpack_object));
        if (n) memcpy(o->via.array.ptr, items, n * sizeof(msgpack_object));
        free(items);
        harness_yaml_anchor_add(ctx, ev->data.sequence_start.anchor, o);
        return 0;
    }
    case YAML_MAPPING_START_EVENT: {
        msgpack_object *items;
        size_t n;
        if (harness_yaml_collection(ctx, YAML_MAPPING_END_EVENT, &items, &n, depth) < 0) return -1;
        size_t pairs = n / 2;
        o->type = MSGPACK_OBJECT_MAP;
        o->via.map.size = (uint32_t)pairs;
        o->via.map.ptr = harness_yaml_zalloc(ctx, pairs * sizeof(msgpack_object_kv));
        for (size_t i = 0; i < pairs; i++) {
            o->via.map.ptr[i].key = items[2 * i];
            o->via.map.ptr[i].val = items[2 * i + 1];
        }
        free(items);
        harness_yaml_anchor_add(ctx, ev->data.mapping_start.anchor, o);
        return 0;
    }
    default:
        return harness_yaml_fail(ctx, &ev->start_mark, "unexpected YAML event");
    }
}

int harness_payload_yaml_parse(const char *text, size_t len, msgpack_zone *zone, msgpack_object *out,
                               struct harness_strbuf *err)
{
    struct harness_yaml_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.zone = zone;
    ctx.err = err;
    if (!yaml_parser_initialize(&ctx.parser)) {
        harness_strbuf_append_str(err, "cannot initialise the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&ctx.parser, (const unsigned char *)text, len);
    out->type = MSGPACK_OBJECT_NIL;
    int rc = 0, docs = 0, done = 0;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (harness_yaml_next(&ctx, &ev) < 0) {
            rc = -1;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) rc = harness_yaml_fail(&ctx, &ev.start_mark, "more than one YAML document");
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        default:
            rc = harness_yaml_node(&ctx, &ev, out, 0);
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&ctx.parser);
    for (size_t i = 0; i < ctx.anchor_count; i++) free(ctx.anchors[i].name);
    free(ctx.anchors);
    return rc;
}

char *harness_payload_yaml_read_file(const char *path, size_t *len, struct harness_strbuf *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        harness_strbuf_appendf(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct harness_strbuf sb = HARNESS_STRBUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) harness_strbuf_append(&sb, chunk, n);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        harness_strbuf_appendf(err, "cannot read %s", path);
        harness_strbuf_destroy(&sb);
        return NULL;
    }
    return harness_strbuf_detach(&sb, len);
}

int harness_payload_yaml_parse_file(const char *path, msgpack_zone *zone, msgpack_object *out,
                                    struct harness_strbuf *err)
{
    size_t len;
    char *text = harness_payload_yaml_read_file(path, &len, err);
    if (!text) return -1;
    struct harness_strbuf perr = HARNESS_STRBUF_INIT;
    int rc = harness_payload_yaml_parse(text, len, zone, out, &perr);
    if (rc < 0) harness_strbuf_appendf(err, "%s: %s", path, harness_strbuf_cstr(&perr));
    harness_strbuf_destroy(&perr);
    free(text);
    return rc;
}
