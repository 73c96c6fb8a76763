/* The node registry (eva.registry key_get/key_set/key_delete) in memory,
 * optionally persisted to a file (--registry FILE) so a second run reads back
 * what the first one stored, as a service's data survives restarts on a
 * node. The file is a MessagePack map key -> value, replaced atomically
 * (temp file + rename) on every change. */
#ifndef HARNESS_REGISTRY_H
#define HARNESS_REGISTRY_H

#include <pthread.h>
#include <stddef.h>

#include "strbuf.h"

struct harness_registry_entry {
    char *key;
    char *value; /* packed MessagePack */
    size_t len;
};

struct harness_registry {
    pthread_mutex_t mutex;
    struct harness_registry_entry *entries; /* sorted by key */
    size_t count, cap;
    char *path;  /* NULL: memory only */
    int persist; /* write changes back to path */
};

/* path may be NULL; an absent file is an empty registry. With persist 0 the
 * file is only read (check preloads). -1 with a message in err. */
int harness_registry_open(struct harness_registry *reg, const char *path, int persist, struct harness_strbuf *err);
void harness_registry_close(struct harness_registry *reg);
/* 0 and a malloc'd copy of the value, or EVA_ERR_CODE_NOT_FOUND */
int harness_registry_get(struct harness_registry *reg, const char *key, char **value, size_t *len);
/* 0, or EVA_ERR_CODE_IO when persisting failed (the change is kept) */
int harness_registry_set(struct harness_registry *reg, const char *key, const char *value, size_t len);
int harness_registry_delete(struct harness_registry *reg, const char *key);
size_t harness_registry_count(struct harness_registry *reg);
/* write the whole registry to path (atomically), e.g. to hand it to the next
 * lifecycle of a check; -1 with errno on failure */
int harness_registry_save_as(struct harness_registry *reg, const char *path);

#endif
