/* The methods a service info lists (from the info svc_init announced). */
#ifndef HARNESS_INFO_METHODS_H
#define HARNESS_INFO_METHODS_H

#include <stddef.h>

#include "strbuf.h"

struct harness_check_methods {
    size_t count;
    char **names;
    size_t *param_counts;
    char ***params;
};

/* tolerant: an info that is not a valid map gives no methods */
void harness_check_methods_parse(struct harness_check_methods *m, const char *info, size_t len);
/* strict, for init-info: -1 with the problems in why */
int harness_check_info_validate(const char *info, size_t len, struct harness_strbuf *why,
                                struct harness_check_methods *m);

#endif
