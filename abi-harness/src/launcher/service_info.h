/* The service info svc_init returns, decoded as the launcher decodes it
 * (eva4-common src/services.rs ServiceInfo: author, version, description,
 * methods {name: {description, params {param: {required}}}}; every method
 * needs params; unknown keys are ignored). Info that does not decode aborts
 * the launch; a 0 return from svc_init gives the launcher's dummy info. */
#ifndef HARNESS_SERVICE_INFO_H
#define HARNESS_SERVICE_INFO_H

#include <stddef.h>

#include "strbuf.h"

/* 0 when info decodes as service info; -1 with the reason in why */
int harness_service_info_decode(const char *info, size_t len, struct harness_strbuf *why);
/* the info's description (malloc'd; "" when it has none), as the launcher
 * names the service in its "<description> started (<id>)" log line */
char *harness_service_info_description(const char *info, size_t len);
/* the launcher's info for a library that gave none (malloc'd MessagePack) */
char *harness_service_info_dummy(size_t *len);

#endif
