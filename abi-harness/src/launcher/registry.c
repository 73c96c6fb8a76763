#include "registry.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eva_ffi.h"
#include "output.h"
#include "payload_yaml.h"
#include "xalloc.h"

static size_t harness_registry_find(const struct harness_registry *reg, const char *key, int *found)
{
    size_t lo = 0, hi = reg->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(reg->entries[mid].key, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = 0;
    return lo;
}

static void harness_registry_put(struct harness_registry *reg, const char *key, const char *value, size_t len)
{
    int found;
    size_t i = harness_registry_find(reg, key, &found);
    if (found) {
        free(reg->entries[i].value);
    } else {
        if (reg->count == reg->cap) {
            reg->cap = reg->cap ? reg->cap * 2 : 16;
            reg->entries = harness_xrealloc(reg->entries, reg->cap * sizeof *reg->entries);
        }
        memmove(&reg->entries[i + 1], &reg->entries[i], (reg->count - i) * sizeof *reg->entries);
        reg->entries[i].key = harness_xstrdup(key);
        reg->count++;
    }
    reg->entries[i].value = harness_xmemdup(value, len);
    reg->entries[i].len = len;
}

/* caller holds the lock */
static int harness_registry_write(struct harness_registry *reg, const char *path)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, (uint32_t)reg->count);
    for (size_t i = 0; i < reg->count; i++) {
        msgpack_pack_str_with_body(&pk, reg->entries[i].key, strlen(reg->entries[i].key));
        /* values are kept packed: append their bytes as they are */
        msgpack_sbuffer_write(&sbuf, reg->entries[i].value, reg->entries[i].len);
    }
    struct harness_strbuf tmp = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    int rc = -1;
    FILE *f = fopen(tmp.data, "wb");
    if (f) {
        size_t w = fwrite(sbuf.data, 1, sbuf.size, f);
        int ok = w == sbuf.size && fflush(f) == 0 && fsync(fileno(f)) == 0;
        if (fclose(f) != 0) ok = 0;
        if (ok && rename(tmp.data, path) == 0) rc = 0;
        else unlink(tmp.data);
    }
    harness_strbuf_destroy(&tmp);
    msgpack_sbuffer_destroy(&sbuf);
    return rc;
}

static int harness_registry_persist(struct harness_registry *reg)
{
    if (!reg->persist || !reg->path) return 0;
    if (harness_registry_write(reg, reg->path) < 0) {
        harness_log(HARNESS_LOG_ERROR, "registry: cannot write %s: %s", reg->path, strerror(errno));
        return EVA_ERR_CODE_IO;
    }
    return 0;
}

int harness_registry_open(struct harness_registry *reg, const char *path, int persist, struct harness_strbuf *err)
{
    memset(reg, 0, sizeof *reg);
    pthread_mutex_init(&reg->mutex, NULL);
    reg->persist = persist;
    if (!path) return 0;
    reg->path = harness_xstrdup(path);
    if (access(path, F_OK) != 0) return 0;

    struct harness_strbuf rerr = HARNESS_STRBUF_INIT;
    size_t len;
    char *data = harness_payload_yaml_read_file(path, &len, &rerr);
    if (!data) {
        harness_strbuf_append_str(err, harness_strbuf_cstr(&rerr));
        harness_strbuf_destroy(&rerr);
        return -1;
    }
    harness_strbuf_destroy(&rerr);
    int rc = 0;
    if (len > 0) {
        msgpack_zone zone;
        msgpack_zone_init(&zone, 4096);
        msgpack_object obj;
        size_t off = 0;
        if (msgpack_unpack(data, len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS || obj.type != MSGPACK_OBJECT_MAP) {
            harness_strbuf_appendf(err, "%s is not a registry file (a MessagePack map key -> value)", path);
            rc = -1;
        } else {
            msgpack_sbuffer sbuf;
            msgpack_sbuffer_init(&sbuf);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
            for (uint32_t i = 0; i < obj.via.map.size && rc == 0; i++) {
                const msgpack_object *k = &obj.via.map.ptr[i].key;
                if (k->type != MSGPACK_OBJECT_STR) {
                    harness_strbuf_appendf(err, "%s: a key is not a string", path);
                    rc = -1;
                    break;
                }
                char *key = harness_xstrndup(k->via.str.ptr, k->via.str.size);
                msgpack_sbuffer_clear(&sbuf);
                msgpack_pack_object(&pk, obj.via.map.ptr[i].val);
                harness_registry_put(reg, key, sbuf.data, sbuf.size);
                free(key);
            }
            msgpack_sbuffer_destroy(&sbuf);
        }
        msgpack_zone_destroy(&zone);
    }
    free(data);
    return rc;
}

void harness_registry_close(struct harness_registry *reg)
{
    for (size_t i = 0; i < reg->count; i++) {
        free(reg->entries[i].key);
        free(reg->entries[i].value);
    }
    free(reg->entries);
    free(reg->path);
    pthread_mutex_destroy(&reg->mutex);
    memset(reg, 0, sizeof *reg);
}

int harness_registry_get(struct harness_registry *reg, const char *key, char **value, size_t *len)
{
    pthread_mutex_lock(&reg->mutex);
    int found;
    size_t i = harness_registry_find(reg, key, &found);
    if (found) {
        *value = harness_xmemdup(reg->entries[i].value, reg->entries[i].len);
        *len = reg->entries[i].len;
    }
    pthread_mutex_unlock(&reg->mutex);
    return found ? 0 : EVA_ERR_CODE_NOT_FOUND;
}

int harness_registry_set(struct harness_registry *reg, const char *key, const char *value, size_t len)
{
    pthread_mutex_lock(&reg->mutex);
    harness_registry_put(reg, key, value, len);
    int rc = harness_registry_persist(reg);
    pthread_mutex_unlock(&reg->mutex);
    return rc;
}

int harness_registry_delete(struct harness_registry *reg, const char *key)
{
    pthread_mutex_lock(&reg->mutex);
    int found;
    size_t i = harness_registry_find(reg, key, &found);
    int rc = 0;
    if (found) {
        free(reg->entries[i].key);
        free(reg->entries[i].value);
        memmove(&reg->entries[i], &reg->entries[i + 1], (reg->count - i - 1) * sizeof *reg->entries);
        reg->count--;
        rc = harness_registry_persist(reg);
    }
    pthread_mutex_unlock(&reg->mutex);
    return rc;
}

size_t harness_registry_count(struct harness_registry *reg)
{
    pthread_mutex_lock(&reg->mutex);
    size_t n = reg->count;
    pthread_mutex_unlock(&reg->mutex);
    return n;
}

int harness_registry_save_as(struct harness_registry *reg, const char *path)
{
    pthread_mutex_lock(&reg->mutex);
    int rc = harness_registry_write(reg, path);
    pthread_mutex_unlock(&reg->mutex);
    return rc;
}
