#include "watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "output.h"

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    pthread_t thread;
    int running;
    int stop;
    int armed;
    double deadline;
    double seconds;
    int exit_code;
    char what[160];
    void (*hook)(void *ud);
    void *hook_ud;
} harness_watchdog = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static void *harness_watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&harness_watchdog.mutex);
    while (!harness_watchdog.stop) {
        if (!harness_watchdog.armed) {
            pthread_cond_wait(&harness_watchdog.changed, &harness_watchdog.mutex);
            continue;
        }
        struct timespec at = harness_clock_at(harness_watchdog.deadline);
        int rc = pthread_cond_timedwait(&harness_watchdog.changed, &harness_watchdog.mutex, &at);
        if (rc == ETIMEDOUT && harness_watchdog.armed && harness_clock_now() >= harness_watchdog.deadline) {
            harness_log(HARNESS_LOG_ERROR, "%s did not finish within %g s: the node would kill the service now",
                        harness_watchdog.what, harness_watchdog.seconds);
            if (harness_watchdog.hook) harness_watchdog.hook(harness_watchdog.hook_ud);
            harness_output_emergency_flush();
            _exit(harness_watchdog.exit_code);
        }
    }
    pthread_mutex_unlock(&harness_watchdog.mutex);
    return NULL;
}

void harness_watchdog_start(void)
{
    harness_clock_cond_init(&harness_watchdog.changed);
    if (pthread_create(&harness_watchdog.thread, NULL, harness_watchdog_main, NULL) == 0)
        harness_watchdog.running = 1;
}

void harness_watchdog_arm(double seconds, int exit_code, const char *what)
{
    pthread_mutex_lock(&harness_watchdog.mutex);
    harness_watchdog.armed = 1;
    harness_watchdog.seconds = seconds;
    harness_watchdog.deadline = harness_clock_now() + seconds;
    harness_watchdog.exit_code = exit_code;
    snprintf(harness_watchdog.what, sizeof harness_watchdog.what, "%s", what);
    pthread_cond_broadcast(&harness_watchdog.changed);
    pthread_mutex_unlock(&harness_watchdog.mutex);
}

void harness_watchdog_disarm(void)
{
    pthread_mutex_lock(&harness_watchdog.mutex);
    harness_watchdog.armed = 0;
    pthread_cond_broadcast(&harness_watchdog.changed);
    pthread_mutex_unlock(&harness_watchdog.mutex);
}

void harness_watchdog_stop(void)
{
    if (!harness_watchdog.running) return;
    pthread_mutex_lock(&harness_watchdog.mutex);
    harness_watchdog.stop = 1;
    pthread_cond_broadcast(&harness_watchdog.changed);
    pthread_mutex_unlock(&harness_watchdog.mutex);
    pthread_join(harness_watchdog.thread, NULL);
    harness_watchdog.running = 0;
    harness_watchdog.stop = 0;
    pthread_cond_destroy(&harness_watchdog.changed);
}

void harness_watchdog_set_hook(void (*hook)(void *ud), void *ud)
{
    pthread_mutex_lock(&harness_watchdog.mutex);
    harness_watchdog.hook = hook;
    harness_watchdog.hook_ud = ud;
    pthread_mutex_unlock(&harness_watchdog.mutex);
}
