#include "payload_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, no
 * surrogates, nothing past U+10FFFF), 0 when invalid. */
static size_t harness_payload_json_utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned int cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
    return n;
}

void harness_payload_json_append_string(struct harness_strbuf *sb, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    harness_strbuf_reserve(sb, len + 2);
    harness_strbuf_append_char(sb, '"');
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            /* copy a run of plain ASCII at once */
            size_t j = i + 1;
            while (j < len && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\') j++;
            harness_strbuf_append(sb, s + i, j - i);
            i = j;
            continue;
        }
        switch (c) {
        case '"': harness_strbuf_append(sb, "\\\"", 2); i++; continue;
        case '\\': harness_strbuf_append(sb, "\\\\", 2); i++; continue;
        case '\n': harness_strbuf_append(sb, "\\n", 2); i++; continue;
        case '\r': harness_strbuf_append(sb, "\\r", 2); i++; continue;
        case '\t': harness_strbuf_append(sb, "\\t", 2); i++; continue;
        case '\b': harness_strbuf_append(sb, "\\b", 2); i++; continue;
        case '\f': harness_strbuf_append(sb, "\\f", 2); i++; continue;
        default: break;
        }
        if (c < 0x20) {
            harness_strbuf_appendf(sb, "\\u%04x", c);
            i++;
            continue;
        }
        size_t n = harness_payload_json_utf8_seq(s + i, len - i);
        if (n == 0) {
            /* not UTF-8: show the byte, as the brief's \u00XX */
            harness_strbuf_appendf(sb, "\\u%04x", c);
            i++;
        } else {
            harness_strbuf_append(sb, s + i, n);
            i += n;
        }
    }
    harness_strbuf_append_char(sb, '"');
}

/* the shortest text that reads back as the same double (or float) */
static void harness_payload_json_append_float(struct harness_strbuf *sb, double v, int single)
{
    if (isnan(v)) {
        harness_strbuf_append_str(sb, "\"NaN\"");
        return;
    }
    if (isinf(v)) {
        harness_strbuf_append_str(sb, v > 0 ? "\"inf\"" : "\"-inf\"");
        return;
    }
    char text[40];
    for (int prec = single ? 6 : 15; prec <= 17; prec++) {
        snprintf(text, sizeof text, "%.*g", prec, v);
        double back = strtod(text, NULL);
        if (single ? (float)back == (float)v : back == v) break;
    }
    harness_strbuf_append_str(sb, text);
    /* keep floats recognisable as floats: 25.0, not 25 */
    if (!strpbrk(text, ".eE")) harness_strbuf_append_str(sb, ".0");
}

static void harness_payload_json_append_map_key(struct harness_strbuf *sb, const msgpack_object *key)
{
    if (key->type == MSGPACK_OBJECT_STR) {
        harness_payload_json_append_string(sb, key->via.str.ptr, key->via.str.size);
        return;
    }
    struct harness_strbuf text = HARNESS_STRBUF_INIT;
    harness_payload_json_append(&text, key);
    harness_payload_json_append_string(sb, text.data, text.len);
    harness_strbuf_destroy(&text);
}

void harness_payload_json_append(struct harness_strbuf *sb, const msgpack_object *obj)
{
    switch (obj->type) {
    case MSGPACK_OBJECT_NIL:
        harness_strbuf_append_str(sb, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        harness_strbuf_append_str(sb, obj->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        harness_strbuf_appendf(sb, "%llu", (unsigned long long)obj->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        harness_strbuf_appendf(sb, "%lld", (long long)obj->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
        harness_payload_json_append_float(sb, obj->via.f64, 1);
        break;
    case MSGPACK_OBJECT_FLOAT64:
        harness_payload_json_append_float(sb, obj->via.f64, 0);
        break;
    case MSGPACK_OBJECT_STR:
        harness_payload_json_append_string(sb, obj->via.str.ptr, obj->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        harness_strbuf_append_str(sb, "{\"$bin\":\"");
        harness_strbuf_append_hex(sb, obj->via.bin.ptr, obj->via.bin.size);
        harness_strbuf_append_str(sb, "\"}");
        break;
    case MSGPACK_OBJECT_EXT:
        harness_strbuf_appendf(sb, "{\"$ext\":[%d,\"", (int)obj->via.ext.type);
        harness_strbuf_append_hex(sb, obj->via.ext.ptr, obj->via.ext.size);
        harness_strbuf_append_str(sb, "\"]}");
        break;
    case MSGPACK_OBJECT_ARRAY:
        harness_strbuf_append_char(sb, '[');
        for (uint32_t i = 0; i < obj->via.array.size; i++) {
            if (i) harness_strbuf_append_char(sb, ',');
            harness_payload_json_append(sb, &obj->via.array.ptr[i]);
        }
        harness_strbuf_append_char(sb, ']');
        break;
    case MSGPACK_OBJECT_MAP:
        harness_strbuf_append_char(sb, '{');
        for (uint32_t i = 0; i < obj->via.map.size; i++) {
            if (i) harness_strbuf_append_char(sb, ',');
            harness_payload_json_append_map_key(sb, &obj->via.map.ptr[i].key);
            harness_strbuf_append_char(sb, ':');
            harness_payload_json_append(sb, &obj->via.map.ptr[i].val);
        }
        harness_strbuf_append_char(sb, '}');
        break;
    default:
        harness_strbuf_append_str(sb, "null");
        break;
    }
}

int harness_payload_json_append_packed(struct harness_strbuf *sb, const char *data, size_t len)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    msgpack_object obj;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack(data, len, &off, &zone, &obj);
    int ret = -1;
    if (rc == MSGPACK_UNPACK_SUCCESS) {
        harness_payload_json_append(sb, &obj);
        ret = 0;
    }
    msgpack_zone_destroy(&zone);
    return ret;
}

void harness_payload_json_describe(struct harness_strbuf *sb, const char *data, size_t len)
{
    if (len == 0) {
        harness_strbuf_append_str(sb, "<no payload>");
        return;
    }
    if (harness_payload_json_append_packed(sb, data, len) == 0) return;
    harness_strbuf_appendf(sb, "<%zu bytes, not MessagePack: ", len);
    harness_strbuf_append_hex(sb, data, len > 32 ? 32 : len);
    harness_strbuf_append_str(sb, len > 32 ? "...>" : ">");
}
