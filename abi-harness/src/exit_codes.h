/* Process exit codes of abi-harness (stable: scripts rely on them). */
#ifndef HARNESS_EXIT_CODES_H
#define HARNESS_EXIT_CODES_H

#define HARNESS_EXIT_OK 0
#define HARNESS_EXIT_FAILED 1   /* an expect/step failed, --check-actions violations, a check FAILed, POC (as the launcher) */
#define HARNESS_EXIT_USAGE 2    /* bad command line or unreadable input files */
#define HARNESS_EXIT_LAUNCH 3   /* the library could not be launched (load, symbols, init, prepare, launch, startup timeout);
                                 * `launch` exits 1 there instead, as eva-ffi does */
#define HARNESS_EXIT_SHUTDOWN 4 /* svc_terminate failed or the shutdown overran timeout.shutdown */
#define HARNESS_EXIT_POC 1      /* the library raised POC: the launcher stops the service and exits 1 */
#define HARNESS_EXIT_HANG 6     /* the run would hang on a node (e.g. RPC_CALL in a lifecycle callback, workers: 1) */
#define HARNESS_EXIT_BUS_REFUSED 7 /* launch, attach, call, bench --bus, serve-test: the broker refused the name (taken, invalid, access) */
#define HARNESS_EXIT_BUS_LOST 8    /* the same: no broker at the address, or it went away while serving */
#define HARNESS_EXIT_SIGNAL_BASE 128 /* a second stop signal during shutdown: 128 + signal */

#endif
