/* Guard pages: a buffer that ends exactly where a PROT_NONE page begins,
 * so reading past it faults at once. */
#ifndef HARNESS_GUARD_PAGE_H
#define HARNESS_GUARD_PAGE_H

#include <stddef.h>

struct harness_guard {
    void *base;
    size_t total;
};

/* a copy of data that ends exactly where a PROT_NONE page begins */
const char *harness_guard_place(struct harness_guard *g, const void *data, size_t len);
void harness_guard_free(struct harness_guard *g);

#endif
