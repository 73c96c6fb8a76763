/* The data folder (initial data_path) a command hands the library when
 * neither --data-path nor --eva-dir names one: a fresh temporary folder per
 * invocation, so that a run never loads what an earlier run (or another
 * test with the same service id) left there. It is said on stderr and
 * removed when the harness exits; --data-path DIR keeps one between runs. */
#ifndef HARNESS_DATA_FOLDER_H
#define HARNESS_DATA_FOLDER_H

/* the fresh folder of this process (made, and announced, on the first
 * call); NULL when it cannot be made (logged) */
const char *harness_data_folder_fresh(void);
/* removes the fresh folder and what the library wrote in it; only in the
 * process that made it (a forked check child that exits leaves it alone).
 * Also runs at exit; call it before an _exit. */
void harness_data_folder_remove(void);

#endif
