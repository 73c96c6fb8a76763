#include "signals.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exit_codes.h"
#include "output.h"

static struct {
    pthread_t thread;
    int running;
    atomic_int stop;
    atomic_int ignore_sigint;
    void (*on_signal)(int sig, void *ud);
    void *ud;
} harness_signals;

void harness_signals_block(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void *harness_signals_main(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    int count = 0;
    /* a timed wait, so the thread can be joined at the end of the run */
    struct timespec tick = {0, 100 * 1000 * 1000};
    while (!atomic_load(&harness_signals.stop)) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig <= 0) continue;
        if (sig == SIGINT && atomic_load(&harness_signals.ignore_sigint)) {
            harness_log(HARNESS_LOG_DEBUG, "SIGINT ignored (as the node's launcher does)");
            continue;
        }
        const char *name = sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM";
        if (++count > 1) {
            harness_log(HARNESS_LOG_ERROR, "second %s: exiting at once", name);
            harness_output_emergency_flush();
            _exit(HARNESS_EXIT_SIGNAL_BASE + sig);
        }
        /* eva4-sdk src/service.rs svc_start_signal_handlers: SIGTERM and SIGHUP stop the service,
         * SIGINT is ignored by a node's launcher (the harness lets a person's Ctrl-C stop it) */
        if (sig == SIGINT)
            harness_log(HARNESS_LOG_INFO, "SIGINT received: stopping the service (a node's launcher ignores SIGINT)");
        else
            harness_log(HARNESS_LOG_INFO, "%s received: stopping the service", name);
        if (harness_signals.on_signal) harness_signals.on_signal(sig, harness_signals.ud);
    }
    return NULL;
}

void harness_signals_start(void (*on_signal)(int sig, void *ud), void *ud)
{
    harness_signals.on_signal = on_signal;
    harness_signals.ud = ud;
    atomic_store(&harness_signals.stop, 0);
    if (pthread_create(&harness_signals.thread, NULL, harness_signals_main, NULL) == 0) harness_signals.running = 1;
}

void harness_signals_ignore_sigint(int ignore)
{
    atomic_store(&harness_signals.ignore_sigint, ignore);
}

void harness_signals_stop(void)
{
    if (!harness_signals.running) return;
    atomic_store(&harness_signals.stop, 1);
    pthread_join(harness_signals.thread, NULL);
    harness_signals.running = 0;
}
