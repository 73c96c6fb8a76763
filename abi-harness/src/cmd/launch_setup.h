/* What run and check do before the library is touched: the service
 * template, the launcher's command line in it, the EVA dir, the library
 * path and the initial payload, from the options. */
#ifndef HARNESS_LAUNCH_SETUP_H
#define HARNESS_LAUNCH_SETUP_H

#include <msgpack.h>

#include "initial_payload.h"
#include "options.h"
#include "svc_template.h"

struct harness_launch_setup {
    struct harness_svc_template tmpl;
    struct harness_launcher_args args;
    msgpack_zone zone; /* --initial-extra */
    char *eva_dir;
    char *lib_path;
    struct harness_initial initial;
};

/* 0, or an exit code (usage, or HARNESS_EXIT_LAUNCH when the service
 * refuses to start) after logging why */
int harness_launch_setup(struct harness_launch_setup *ls, const struct harness_options *o);
void harness_launch_setup_destroy(struct harness_launch_setup *ls);

#endif
