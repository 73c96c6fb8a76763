/* A growable byte/text buffer, always kept NUL-terminated so it can be used
 * as a C string at any time. */
#ifndef HARNESS_STRBUF_H
#define HARNESS_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct harness_strbuf {
    char *data;
    size_t len;
    size_t cap;
};

#define HARNESS_STRBUF_INIT {NULL, 0, 0}

void harness_strbuf_init(struct harness_strbuf *sb);
void harness_strbuf_destroy(struct harness_strbuf *sb);
void harness_strbuf_reset(struct harness_strbuf *sb);
void harness_strbuf_reserve(struct harness_strbuf *sb, size_t extra);
void harness_strbuf_append(struct harness_strbuf *sb, const void *data, size_t len);
void harness_strbuf_append_str(struct harness_strbuf *sb, const char *s);
void harness_strbuf_append_char(struct harness_strbuf *sb, char c);
void harness_strbuf_appendf(struct harness_strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void harness_strbuf_vappendf(struct harness_strbuf *sb, const char *fmt, va_list ap);
/* lowercase hex of the bytes */
void harness_strbuf_append_hex(struct harness_strbuf *sb, const void *data, size_t len);
/* the text, "" when nothing was appended yet */
const char *harness_strbuf_cstr(const struct harness_strbuf *sb);
/* hand the storage to the caller (free() it); the buffer becomes empty */
char *harness_strbuf_detach(struct harness_strbuf *sb, size_t *len);

#endif
