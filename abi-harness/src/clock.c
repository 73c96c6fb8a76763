#include "clock.h"

#include <errno.h>
#include <math.h>

double harness_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void harness_clock_sleep(double seconds)
{
    if (!(seconds > 0)) return;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

void harness_clock_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

struct timespec harness_clock_at(double when)
{
    struct timespec ts;
    if (!(when > 0)) when = 0;
    if (when > 1e12) when = 1e12;
    double whole = floor(when);
    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((when - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

struct timespec harness_clock_deadline(double seconds)
{
    return harness_clock_at(harness_clock_now() + (seconds > 0 ? seconds : 0));
}
