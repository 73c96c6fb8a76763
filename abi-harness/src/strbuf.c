#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void harness_strbuf_init(struct harness_strbuf *sb)
{
    sb->data = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void harness_strbuf_destroy(struct harness_strbuf *sb)
{
    free(sb->data);
    harness_strbuf_init(sb);
}

void harness_strbuf_reset(struct harness_strbuf *sb)
{
    sb->len = 0;
    if (sb->data) sb->data[0] = '\0';
}

void harness_strbuf_reserve(struct harness_strbuf *sb, size_t extra)
{
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) cap *= 2;
    sb->data = harness_xrealloc(sb->data, cap);
    sb->cap = cap;
}

void harness_strbuf_append(struct harness_strbuf *sb, const void *data, size_t len)
{
    harness_strbuf_reserve(sb, len);
    if (len) memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void harness_strbuf_append_str(struct harness_strbuf *sb, const char *s)
{
    harness_strbuf_append(sb, s, strlen(s));
}

void harness_strbuf_append_char(struct harness_strbuf *sb, char c)
{
    harness_strbuf_reserve(sb, 1);
    sb->data[sb->len++] = c;
    sb->data[sb->len] = '\0';
}

void harness_strbuf_vappendf(struct harness_strbuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    harness_strbuf_reserve(sb, (size_t)n);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void harness_strbuf_appendf(struct harness_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    harness_strbuf_vappendf(sb, fmt, ap);
    va_end(ap);
}

void harness_strbuf_append_hex(struct harness_strbuf *sb, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    harness_strbuf_reserve(sb, len * 2);
    for (size_t i = 0; i < len; i++) {
        sb->data[sb->len++] = digits[p[i] >> 4];
        sb->data[sb->len++] = digits[p[i] & 15];
    }
    sb->data[sb->len] = '\0';
}

const char *harness_strbuf_cstr(const struct harness_strbuf *sb)
{
    return sb->data ? sb->data : "";
}

char *harness_strbuf_detach(struct harness_strbuf *sb, size_t *len)
{
    char *p = sb->data;
    if (len) *len = sb->len;
    if (!p) p = harness_xstrdup("");
    harness_strbuf_init(sb);
    return p;
}
