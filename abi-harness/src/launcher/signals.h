/* SIGTERM/SIGHUP (a node's launcher stops the service on them) and SIGINT
 * (ignored by a node's launcher; here it stops the harness, for a person at
 * a terminal). The signals are blocked in every thread (call
 * harness_signals_block first thing, before any thread or the library
 * exists, so library threads inherit the mask) and a dedicated thread waits
 * for them. The first one asks for an orderly stop; a second one during the
 * shutdown exits at once with 128 + signal. SIGPIPE is ignored: a closed
 * stdout pipe must not kill a run half-way. */
#ifndef HARNESS_SIGNALS_H
#define HARNESS_SIGNALS_H

void harness_signals_block(void);
void harness_signals_start(void (*on_signal)(int sig, void *ud), void *ud);
void harness_signals_stop(void);
/* launch: SIGINT is ignored, as by the node's launcher (before start) */
void harness_signals_ignore_sigint(int ignore);

#endif
