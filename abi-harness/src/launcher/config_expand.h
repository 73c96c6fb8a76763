/* The node's expansion of service config values before the launcher starts
 * (abi-and-launcher.md, "The initial payload as the launcher sends it"):
 * a string value that begins with "^include ", "^include-text ", "^pipe "
 * or "^pipe-text " is replaced by a file's parsed YAML/JSON, a file's text,
 * a command's parsed output or a command's output text. Files are taken
 * relative to the EVA dir, commands run there. Applied at any depth. */
#ifndef HARNESS_CONFIG_EXPAND_H
#define HARNESS_CONFIG_EXPAND_H

#include <msgpack.h>

#include "strbuf.h"

/* packs config with the expansions into pk; -1 with a message in err */
int harness_config_expand_pack(msgpack_packer *pk, const msgpack_object *config, const char *eva_dir,
                               struct harness_strbuf *err);

#endif
