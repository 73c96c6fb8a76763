/* Running a piece of work in a forked child with a time limit: a crash or a
 * hang in a library fails that piece, never the harness. The child reports
 * through a pipe (result_fd) and may have its stdout/stderr captured. */
#ifndef HARNESS_CHECK_FORK_H
#define HARNESS_CHECK_FORK_H

#include "strbuf.h"

enum harness_fork_end {
    HARNESS_FORK_EXITED,   /* exit_code is set */
    HARNESS_FORK_SIGNALED, /* signal is set */
    HARNESS_FORK_TIMEOUT,  /* killed after the time limit */
    HARNESS_FORK_FAILED,   /* fork/pipe failed */
};

struct harness_fork_result {
    enum harness_fork_end end;
    int exit_code;
    int signal;
    double seconds;
    struct harness_strbuf data;   /* everything the child wrote to result_fd */
    struct harness_strbuf output; /* its stdout+stderr when captured */
};

/* fn runs in the child and should end with _exit; capture redirects the
 * child's stdout/stderr into result->output */
void harness_check_fork(void (*fn)(void *arg, int result_fd), void *arg, double time_limit, int capture,
                        struct harness_fork_result *result);
void harness_fork_result_destroy(struct harness_fork_result *result);
/* write all of data to fd (retrying short writes) */
void harness_check_write(int fd, const char *data, size_t len);

#endif
