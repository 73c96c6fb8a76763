/* Names of the EAPI error codes, for messages and for `code: NOT_FOUND` in
 * scripts. The numbers come from eva/ffi_errors.h. */
#ifndef HARNESS_ERRCODE_H
#define HARNESS_ERRCODE_H

/* "NOT_FOUND" for -32001; NULL when the code has no name */
const char *harness_errcode_name(int code);
/* accepts a name (with or without the ERR_CODE_/EVA_ERR_CODE_ prefix, any
 * case) or a decimal number; 0 on success, -1 when unknown */
int harness_errcode_parse(const char *text, int *code);

#endif
