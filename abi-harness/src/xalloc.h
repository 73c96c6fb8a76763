/* Allocation helpers that abort on out-of-memory: a test tool has no useful
 * way to continue without memory, and checking every call hides the logic. */
#ifndef HARNESS_XALLOC_H
#define HARNESS_XALLOC_H

#include <stddef.h>

void *harness_xmalloc(size_t size);
void *harness_xcalloc(size_t n, size_t size);
void *harness_xrealloc(void *ptr, size_t size);
char *harness_xstrdup(const char *s);
char *harness_xstrndup(const char *s, size_t len);
void *harness_xmemdup(const void *data, size_t len);

#endif
