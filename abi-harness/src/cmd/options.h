/* Command-line options of the subcommands (run, check, bench). One table
 * says which options each subcommand takes, so help and parsing agree. */
#ifndef HARNESS_OPTIONS_H
#define HARNESS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "fault.h"
#include "rpc_result.h"

enum harness_subcommand {
    HARNESS_CMD_RUN = 1,
    HARNESS_CMD_CHECK = 2,
    HARNESS_CMD_BENCH = 4,
};

/* --call and --frame, kept in command-line order */
struct harness_cli_step {
    int is_frame;
    const char *name;   /* method or topic */
    const char *text;   /* params / payload text, NULL when absent */
};

struct harness_options {
    enum harness_subcommand cmd;
    const char *lib_path;
    const char *config_path;
    const char *svc_id;
    int fail_mode;
    int log_level;
    unsigned pool_size;
    size_t queue_size; /* 0: from the template or the default */
    enum harness_result_mode result_mode;
    const char *registry_path;
    int core_inactive;
    double core_delay;   /* seconds after ready until the core is active */
    long workers;        /* -1: the template's */
    const char **skips;  /* check --skip METHOD */
    size_t skip_count;
    struct harness_faults faults;
    uint64_t seed;
    int seed_given;
    struct harness_cli_step *steps;
    size_t step_count;
    const char *script_path;
    int keep_running;
    double drain;
    int check_actions;
    int no_frames;
    const char *sender;
    int deliver_unsubscribed;
    const char *system_name;
    const char *data_path;
    const char *eva_dir;
    int fips;
    int call_tracing;
    const char *initial_extra;
    const char *bus_path; /* attach --bus: bus.path of the initial payload */
    int live_core;        /* attach: core.active true (a live node's core is up) */
    /* check */
    const char *only;
    double time_limit;
    unsigned long iterations;
    int verbose;
    int list_checks;
};

/* parse argv after the subcommand name; 0, 1 when help was printed, or
 * -1 after printing an error */
int harness_options_parse(struct harness_options *o, enum harness_subcommand cmd, int argc, char **argv);
void harness_options_free(struct harness_options *o);
/* the usage text of a subcommand (all options it takes) */
void harness_options_usage(enum harness_subcommand cmd, int to_stderr);

#endif
