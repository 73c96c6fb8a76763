/* abi-harness attach: the library as an external service on a live bus */
#ifndef HARNESS_ATTACH_H
#define HARNESS_ATTACH_H

/* argv after "attach"; the process exit code */
int harness_attach_main(int argc, char **argv);

#endif
