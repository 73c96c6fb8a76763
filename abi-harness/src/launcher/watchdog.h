/* Deadlines the node enforces by killing the process: startup (ready within
 * timeout.startup) and shutdown (gone within timeout.shutdown). A library
 * call that never returns cannot be interrupted, so when a deadline passes
 * the watchdog reports it and ends the process with the given exit code. */
#ifndef HARNESS_WATCHDOG_H
#define HARNESS_WATCHDOG_H

void harness_watchdog_start(void);
/* arm (re-arm) a deadline `seconds` from now; what names the stage */
void harness_watchdog_arm(double seconds, int exit_code, const char *what);
void harness_watchdog_disarm(void);
void harness_watchdog_stop(void);
/* called (on the watchdog thread) just before the exit, e.g. to print the
 * action ledger */
void harness_watchdog_set_hook(void (*hook)(void *ud), void *ud);

#endif
