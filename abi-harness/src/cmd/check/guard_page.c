/* Guard pages: a buffer placed so that it ends exactly where a PROT_NONE
 * page begins, so a library that reads past a method name or a payload
 * faults at once instead of reading junk unnoticed. */
#include "guard_page.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *harness_guard_place(struct harness_guard *g, const void *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (len + page - 1) / page * page;
    if (body == 0) body = page;
    g->total = body + page;
    g->base = mmap(NULL, g->total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->base == MAP_FAILED) {
        g->base = NULL;
        return data;
    }
    char *guard = (char *)g->base + body;
    mprotect(guard, page, PROT_NONE);
    char *start = guard - len;
    if (len) memcpy(start, data, len);
    return start;
}

void harness_guard_free(struct harness_guard *g)
{
    if (g->base) munmap(g->base, g->total);
    g->base = NULL;
}
