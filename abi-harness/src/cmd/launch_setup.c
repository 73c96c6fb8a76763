#include "launch_setup.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_folder.h"
#include "exit_codes.h"
#include "output.h"
#include "payload_yaml.h"
#include "xalloc.h"

int harness_launch_setup(struct harness_launch_setup *ls, const struct harness_options *o)
{
    memset(ls, 0, sizeof *ls);
    msgpack_zone_init(&ls->zone, 1024);
    struct harness_strbuf err = HARNESS_STRBUF_INIT;
    int rc = HARNESS_EXIT_USAGE;
    if (harness_svc_template_load(&ls->tmpl, o->config_path, &err) < 0) goto out;
    if (harness_svc_template_args(&ls->tmpl, &ls->args, &err) < 0) goto out;
    /* the EVA dir: --eva-dir, else the template's folder, else the current one */
    const char *dir = o->eva_dir ? o->eva_dir : ls->tmpl.dir;
    char *abs = dir ? realpath(dir, NULL) : getcwd(NULL, 0);
    if (!abs) {
        harness_strbuf_appendf(&err, "--eva-dir %s: no such directory", dir ? dir : ".");
        goto out;
    }
    ls->eva_dir = abs;
    if (o->lib_path) {
        /* a LIB on the harness's command line is a path as the user typed it */
        ls->lib_path = harness_xstrdup(o->lib_path);
    } else if (ls->args.library_path) {
        ls->lib_path = harness_svc_template_resolve_library(ls->args.library_path, ls->eva_dir);
    } else {
        harness_strbuf_append_str(&err, "no LIB given (and no \"command: svc/eva-ffi LIB\" in --config)");
        goto out;
    }
    msgpack_object extra;
    if (o->initial_extra &&
        harness_payload_yaml_parse(o->initial_extra, strlen(o->initial_extra), &ls->zone, &extra, &err) < 0)
        goto out;
    /* data_path: --data-path, else EVA_DIR/runtime/svc_data/<id> under an --eva-dir (kept there, as on a
     * node), else a fresh folder of this run ("" for user nobody either way) */
    const char *data_path = o->data_path;
    if (!data_path && !o->eva_dir && !harness_svc_template_user_nobody(&ls->tmpl)) {
        data_path = harness_data_folder_fresh();
        if (!data_path) goto out;
    }
    struct harness_initial_options io = {
        .lib_path = ls->lib_path,
        .svc_id = o->svc_id,
        .system_name = o->system_name,
        .data_path = data_path,
        .eva_dir = ls->eva_dir,
        .workers = o->workers,
        .log_level = o->log_level,
        /* the core is inactive while services start; on a live node (attach) it is up */
        .core_active = o->live_core,
        .fail_mode = o->fail_mode,
        .fips = o->fips,
        .call_tracing = o->call_tracing,
        .queue_size = o->queue_size ? o->queue_size : ls->args.command_queue_size,
        .extra = o->initial_extra ? &extra : NULL,
        .bus_path = o->bus_path,
    };
    int brc = harness_initial_payload_build(&ls->tmpl, &io, &ls->initial, &err);
    if (brc == -2) rc = HARNESS_EXIT_LAUNCH;
    if (brc < 0) goto out;
    rc = 0;
out:
    if (rc) harness_log(HARNESS_LOG_ERROR, "%s", harness_strbuf_cstr(&err));
    harness_strbuf_destroy(&err);
    return rc;
}

void harness_launch_setup_destroy(struct harness_launch_setup *ls)
{
    harness_initial_payload_destroy(&ls->initial);
    harness_launcher_args_destroy(&ls->args);
    harness_svc_template_destroy(&ls->tmpl);
    msgpack_zone_destroy(&ls->zone);
    free(ls->eva_dir);
    free(ls->lib_path);
    memset(ls, 0, sizeof *ls);
}
