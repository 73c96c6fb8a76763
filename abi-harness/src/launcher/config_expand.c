#include "config_expand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "payload_yaml.h"
#include "xalloc.h"

enum harness_expand_kind { HARNESS_EXPAND_NONE, HARNESS_EXPAND_INCLUDE, HARNESS_EXPAND_INCLUDE_TEXT,
                           HARNESS_EXPAND_PIPE, HARNESS_EXPAND_PIPE_TEXT };

static enum harness_expand_kind harness_expand_kind(const msgpack_object *o, const char **arg, size_t *arg_len)
{
    static const struct {
        const char *prefix;
        enum harness_expand_kind kind;
    } prefixes[] = {
        {"^include ", HARNESS_EXPAND_INCLUDE},
        {"^include-text ", HARNESS_EXPAND_INCLUDE_TEXT},
        {"^pipe ", HARNESS_EXPAND_PIPE},
        {"^pipe-text ", HARNESS_EXPAND_PIPE_TEXT},
    };
    if (o->type != MSGPACK_OBJECT_STR) return HARNESS_EXPAND_NONE;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i].prefix);
        if (o->via.str.size > n && !memcmp(o->via.str.ptr, prefixes[i].prefix, n)) {
            *arg = o->via.str.ptr + n;
            *arg_len = o->via.str.size - n;
            return prefixes[i].kind;
        }
    }
    return HARNESS_EXPAND_NONE;
}

/* a command's stdout, run by sh in the EVA dir; NULL with err on failure */
static char *harness_expand_pipe(const char *cmd, const char *eva_dir, size_t *len, struct harness_strbuf *err)
{
    struct harness_strbuf line = HARNESS_STRBUF_INIT;
    harness_strbuf_append_str(&line, "cd '");
    for (const char *p = eva_dir; *p; p++) {
        if (*p == '\'') harness_strbuf_append_str(&line, "'\\''");
        else harness_strbuf_append_char(&line, *p);
    }
    harness_strbuf_appendf(&line, "' && %s", cmd);
    FILE *f = popen(line.data, "r");
    harness_strbuf_destroy(&line);
    if (!f) {
        harness_strbuf_appendf(err, "config: ^pipe %s: cannot run it", cmd);
        return NULL;
    }
    struct harness_strbuf out = HARNESS_STRBUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) harness_strbuf_append(&out, chunk, n);
    int status = pclose(f);
    if (status != 0) {
        harness_strbuf_appendf(err, "config: ^pipe %s: exited with status %d", cmd,
                               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        harness_strbuf_destroy(&out);
        return NULL;
    }
    return harness_strbuf_detach(&out, len);
}

static char *harness_expand_path(const char *arg, size_t len, const char *eva_dir)
{
    struct harness_strbuf p = HARNESS_STRBUF_INIT;
    if (len == 0 || arg[0] != '/') harness_strbuf_appendf(&p, "%s/", eva_dir);
    harness_strbuf_append(&p, arg, len);
    return harness_strbuf_detach(&p, NULL);
}

static int harness_expand_value(msgpack_packer *pk, const msgpack_object *o, const char *eva_dir,
                                struct harness_strbuf *err, int depth)
{
    if (depth > 64) {
        harness_strbuf_append_str(err, "config: nested too deep (^include loop?)");
        return -1;
    }
    const char *arg;
    size_t arg_len;
    enum harness_expand_kind kind = harness_expand_kind(o, &arg, &arg_len);
    if (kind != HARNESS_EXPAND_NONE) {
        char *text;
        size_t len = 0;
        if (kind == HARNESS_EXPAND_INCLUDE || kind == HARNESS_EXPAND_INCLUDE_TEXT) {
            char *path = harness_expand_path(arg, arg_len, eva_dir);
            text = harness_payload_yaml_read_file(path, &len, err);
            free(path);
        } else {
            char *cmd = harness_xstrndup(arg, arg_len);
            text = harness_expand_pipe(cmd, eva_dir, &len, err);
            free(cmd);
        }
        if (!text) return -1;
        int rc = 0;
        if (kind == HARNESS_EXPAND_INCLUDE_TEXT || kind == HARNESS_EXPAND_PIPE_TEXT) {
            msgpack_pack_str_with_body(pk, text, len);
        } else {
            msgpack_zone zone;
            msgpack_zone_init(&zone, 1024);
            msgpack_object parsed;
            rc = harness_payload_yaml_parse(text, len, &zone, &parsed, err);
            /* the included data is taken as it is */
            if (rc == 0) msgpack_pack_object(pk, parsed);
            msgpack_zone_destroy(&zone);
        }
        free(text);
        return rc;
    }
    if (o->type == MSGPACK_OBJECT_MAP) {
        msgpack_pack_map(pk, o->via.map.size);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            msgpack_pack_object(pk, o->via.map.ptr[i].key);
            if (harness_expand_value(pk, &o->via.map.ptr[i].val, eva_dir, err, depth + 1) < 0) return -1;
        }
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        msgpack_pack_array(pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (harness_expand_value(pk, &o->via.array.ptr[i], eva_dir, err, depth + 1) < 0) return -1;
        }
        return 0;
    }
    msgpack_pack_object(pk, *o);
    return 0;
}

int harness_config_expand_pack(msgpack_packer *pk, const msgpack_object *config, const char *eva_dir,
                               struct harness_strbuf *err)
{
    return harness_expand_value(pk, config, eva_dir, err, 0);
}
