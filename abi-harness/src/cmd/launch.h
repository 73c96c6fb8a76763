/* abi-harness launch: the library on a node's bus in place of svc/eva-ffi */
#ifndef HARNESS_LAUNCH_H
#define HARNESS_LAUNCH_H

/* argv after "launch"; the process exit code */
int harness_launch_main(int argc, char **argv);

#endif
