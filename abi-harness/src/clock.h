/* Monotonic time for deadlines and rates; condition variables made with
 * harness_clock_cond_init wait on the same clock, so wall-clock jumps never
 * shorten or stretch a timeout. */
#ifndef HARNESS_CLOCK_H
#define HARNESS_CLOCK_H

#include <pthread.h>
#include <time.h>

/* seconds since an arbitrary point */
double harness_clock_now(void);
void harness_clock_sleep(double seconds);
void harness_clock_cond_init(pthread_cond_t *cond);
/* an absolute monotonic time `seconds` from now, for pthread_cond_timedwait */
struct timespec harness_clock_deadline(double seconds);
/* an absolute monotonic time for a point given by harness_clock_now() */
struct timespec harness_clock_at(double when);

#endif
