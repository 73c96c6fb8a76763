#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void harness_xalloc_fail(size_t size)
{
    /* stdio may itself need memory: write directly */
    char msg[96];
    int n = snprintf(msg, sizeof msg, "[critical] harness: out of memory (%zu bytes)\n", size);
    if (n > 0) {
        ssize_t w = write(2, msg, (size_t)n);
        (void)w;
    }
    abort();
}

void *harness_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) harness_xalloc_fail(size);
    return p;
}

void *harness_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) harness_xalloc_fail(n * size);
    return p;
}

void *harness_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) harness_xalloc_fail(size);
    return p;
}

char *harness_xstrdup(const char *s)
{
    return harness_xstrndup(s, strlen(s));
}

char *harness_xstrndup(const char *s, size_t len)
{
    char *p = harness_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *harness_xmemdup(const void *data, size_t len)
{
    void *p = harness_xmalloc(len);
    if (len) memcpy(p, data, len);
    return p;
}
