/* Everything the harness writes to stdout (JSON lines) and stderr (logs)
 * goes through here, under one lock, flushed per line, so lines from the
 * library's threads, the pool and the bus consumer never interleave. */
#ifndef HARNESS_OUTPUT_H
#define HARNESS_OUTPUT_H

#include <stddef.h>

#include "eva_ffi.h"

/* levels share the numbers of core.log_level; critical is for POC only */
#define HARNESS_LOG_TRACE EVA_LOG_LEVEL_TRACE
#define HARNESS_LOG_DEBUG EVA_LOG_LEVEL_DEBUG
#define HARNESS_LOG_INFO EVA_LOG_LEVEL_INFO
#define HARNESS_LOG_WARN EVA_LOG_LEVEL_WARN
#define HARNESS_LOG_ERROR EVA_LOG_LEVEL_ERROR
#define HARNESS_LOG_CRITICAL 50
#define HARNESS_LOG_OFF EVA_LOG_LEVEL_OFF

/* the filter for library logs and the harness's own trace/debug messages */
void harness_output_set_level(int level);
int harness_output_level(void);
/* "trace".."off" -> level; -1 when unknown */
int harness_output_level_parse(const char *name);
const char *harness_output_level_name(int level);

/* keep stdout for the JSON lines alone: they go to a private duplicate of
 * fd 1 and fd 1 becomes stderr, so a library's own printf cannot break the
 * line stream. -1 when it cannot be done (JSON then goes to stdout). */
int harness_output_claim_stdout(void);
void harness_output_release_stdout(void);
/* one line on stdout; a newline is added */
void harness_output_stdout_line(const char *line, size_t len);
/* a library log record: "[level] text" on stderr when level passes */
void harness_output_library_log(int level, const char *text, size_t len);
/* a raw line on stderr, not filtered (summaries, check results' tails) */
void harness_output_stderr_line(const char *line);
/* the harness's own messages: "[level] harness: text"; trace/debug follow
 * the filter, info and above are always shown (they are the tool's output) */
void harness_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* flush both streams without waiting for the lock (watchdog/POC exits) */
void harness_output_emergency_flush(void);

#endif
