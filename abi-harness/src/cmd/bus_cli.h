/* What the bus commands (call, bench --bus, serve-test) share: their bus
 * options, JSON params packed as `run` packs them, connecting with a clear
 * message, and the names of codes. */
#ifndef HARNESS_BUS_CLI_H
#define HARNESS_BUS_CLI_H

#include <stddef.h>

#include "busrt_client.h"

struct bus_cli {
    const char *bus;      /* --bus PATH|HOST:PORT */
    const char *name;     /* --name (NULL: the command's default) */
    int qos;              /* --qos 0-3 */
    double timeout;       /* --timeout seconds */
};

/* Takes --bus/--name/--qos/--timeout at argv[*i] (with `--opt=value` or
 * `--opt value`). Returns 1 when taken (*i moved past it), 0 when argv[*i] is
 * none of them, -1 on a bad value (message printed, prefixed by cmd). */
int bus_cli_option(struct bus_cli *o, const char *cmd, int argc, char **argv, int *i);

/* 1 when --help/-h is anywhere (looked for first, so that `--bus --help`
 * does not take --help as the address) */
int bus_cli_wants_help(int argc, char **argv);

/* JSON/YAML flow text -> MessagePack bytes (malloc'd; text NULL: none).
 * -1 with a message printed. */
int bus_cli_pack_params(const char *cmd, const char *text, char **data, size_t *len);

/* connect + register; NULL with a message on stderr ("cmd: cannot connect
 * to ADDR as NAME: ...") and *exit_code = HARNESS_EXIT_BUS_REFUSED (the
 * broker refused the name) or HARNESS_EXIT_BUS_LOST (no broker there) */
busrt_client *bus_cli_connect(const char *cmd, const char *addr, const char *name, const busrt_options *opt,
    int *exit_code);

/* "NOT_FOUND", "BUS_CLIENT_NOT_REGISTERED", ... or NULL */
const char *bus_cli_code_name(int code);

/* exit on SIGINT/SIGTERM: main blocked them for `run`'s signal thread */
void bus_cli_unblock_signals(void);

#endif
