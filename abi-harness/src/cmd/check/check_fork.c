#include "check_fork.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

/* the captured output kept per child (its tail is what matters) */
#define HARNESS_FORK_OUTPUT_MAX (256 * 1024)

void harness_check_write(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        data += w;
        len -= (size_t)w;
    }
}

void harness_fork_result_destroy(struct harness_fork_result *result)
{
    harness_strbuf_destroy(&result->data);
    harness_strbuf_destroy(&result->output);
}

/* read what is there; 1 at EOF */
static int harness_fork_drain(int fd, struct harness_strbuf *sb, size_t max)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            harness_strbuf_append(sb, buf, (size_t)n);
            if (sb->len > max) {
                /* keep the tail */
                size_t cut = sb->len - max / 2;
                memmove(sb->data, sb->data + cut, sb->len - cut);
                sb->len -= cut;
                sb->data[sb->len] = '\0';
            }
            continue;
        }
        if (n == 0) return 1;
        if (errno == EINTR) continue;
        return 0; /* EAGAIN */
    }
}

void harness_check_fork(void (*fn)(void *arg, int result_fd), void *arg, double time_limit, int capture,
                        struct harness_fork_result *result)
{
    memset(result, 0, sizeof *result);
    int rp[2], cp[2] = {-1, -1};
    if (pipe(rp) != 0 || (capture && pipe(cp) != 0)) {
        result->end = HARNESS_FORK_FAILED;
        return;
    }
    fflush(stdout);
    fflush(stderr);
    double start = harness_clock_now();
    pid_t pid = fork();
    if (pid < 0) {
        result->end = HARNESS_FORK_FAILED;
        close(rp[0]);
        close(rp[1]);
        if (capture) {
            close(cp[0]);
            close(cp[1]);
        }
        return;
    }
    if (pid == 0) {
        close(rp[0]);
        if (capture) {
            close(cp[0]);
            dup2(cp[1], 1);
            dup2(cp[1], 2);
            close(cp[1]);
        }
        /* a child of its own: ^C at the terminal still reaches it, but its
         * signal mask is the default one */
        sigset_t set;
        sigemptyset(&set);
        pthread_sigmask(SIG_SETMASK, &set, NULL);
        fn(arg, rp[1]);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    close(rp[1]);
    if (capture) close(cp[1]);
    fcntl(rp[0], F_SETFL, O_NONBLOCK);
    if (capture) fcntl(cp[0], F_SETFL, O_NONBLOCK);
    int status = 0, exited = 0, timed_out = 0;
    int rp_eof = 0, cp_eof = !capture;
    for (;;) {
        struct pollfd fds[2];
        int nfds = 0;
        if (!rp_eof) fds[nfds++] = (struct pollfd){rp[0], POLLIN, 0};
        if (!cp_eof) fds[nfds++] = (struct pollfd){cp[0], POLLIN, 0};
        if (nfds) poll(fds, (nfds_t)nfds, 50);
        else harness_clock_sleep(0.01);
        if (!rp_eof) rp_eof = harness_fork_drain(rp[0], &result->data, 64 * 1024 * 1024);
        if (!cp_eof) cp_eof = harness_fork_drain(cp[0], &result->output, HARNESS_FORK_OUTPUT_MAX);
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            exited = 1;
            /* what is still buffered in the pipes */
            harness_fork_drain(rp[0], &result->data, 64 * 1024 * 1024);
            if (capture) harness_fork_drain(cp[0], &result->output, HARNESS_FORK_OUTPUT_MAX);
            break;
        }
        if (harness_clock_now() - start > time_limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            timed_out = 1;
            harness_fork_drain(rp[0], &result->data, 64 * 1024 * 1024);
            if (capture) harness_fork_drain(cp[0], &result->output, HARNESS_FORK_OUTPUT_MAX);
            break;
        }
    }
    close(rp[0]);
    if (capture) close(cp[0]);
    result->seconds = harness_clock_now() - start;
    if (timed_out) {
        result->end = HARNESS_FORK_TIMEOUT;
    } else if (exited && WIFSIGNALED(status)) {
        result->end = HARNESS_FORK_SIGNALED;
        result->signal = WTERMSIG(status);
    } else {
        result->end = HARNESS_FORK_EXITED;
        result->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
}
