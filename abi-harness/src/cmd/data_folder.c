#include "data_folder.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "strbuf.h"

static struct {
    pthread_mutex_t mutex;
    char *path;  /* made by mkdtemp: the only folder ever removed */
    pid_t owner; /* the process that made it */
} harness_data_folder = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static void harness_data_folder_at_exit(void)
{
    harness_data_folder_remove();
}

const char *harness_data_folder_fresh(void)
{
    pthread_mutex_lock(&harness_data_folder.mutex);
    if (!harness_data_folder.path) {
        const char *tmp = getenv("TMPDIR");
        struct harness_strbuf p = HARNESS_STRBUF_INIT;
        harness_strbuf_appendf(&p, "%s/abi-harness-data-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        char *path = harness_strbuf_detach(&p, NULL);
        if (!mkdtemp(path)) {
            harness_log(HARNESS_LOG_ERROR, "cannot make a fresh data folder %s: %s (give one with --data-path DIR)",
                        path, strerror(errno));
            free(path);
        } else {
            harness_data_folder.path = path;
            harness_data_folder.owner = getpid();
            atexit(harness_data_folder_at_exit);
            harness_log(HARNESS_LOG_INFO,
                        "fresh data folder %s (data_path), removed at exit; --data-path DIR keeps one between runs", path);
        }
    }
    const char *path = harness_data_folder.path;
    pthread_mutex_unlock(&harness_data_folder.mutex);
    return path;
}

static int harness_data_folder_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        harness_log(HARNESS_LOG_WARN, "cannot remove %s from the fresh data folder: %s", path, strerror(errno));
    return 0;
}

void harness_data_folder_remove(void)
{
    pthread_mutex_lock(&harness_data_folder.mutex);
    char *path = harness_data_folder.path;
    if (path && harness_data_folder.owner == getpid()) {
        harness_data_folder.path = NULL;
        /* depth first, never following a symlink the library left there */
        nftw(path, harness_data_folder_remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(path);
    }
    pthread_mutex_unlock(&harness_data_folder.mutex);
}
