#include "output.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

static pthread_mutex_t harness_output_mutex = PTHREAD_MUTEX_INITIALIZER;
/* where JSON lines go: stdout, or a private copy of it (claim_stdout) */
static FILE *harness_output_json;
static atomic_int harness_output_filter = HARNESS_LOG_INFO;

static const struct {
    const char *name;
    int level;
} harness_output_levels[] = {
    {"trace", HARNESS_LOG_TRACE}, {"debug", HARNESS_LOG_DEBUG},
    {"info", HARNESS_LOG_INFO},   {"warn", HARNESS_LOG_WARN},
    {"error", HARNESS_LOG_ERROR}, {"critical", HARNESS_LOG_CRITICAL},
    {"off", HARNESS_LOG_OFF},
};

void harness_output_set_level(int level)
{
    atomic_store(&harness_output_filter, level);
}

int harness_output_level(void)
{
    return atomic_load(&harness_output_filter);
}

int harness_output_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof harness_output_levels / sizeof harness_output_levels[0]; i++) {
        if (harness_output_levels[i].level == HARNESS_LOG_CRITICAL) continue;
        if (strcmp(name, harness_output_levels[i].name) == 0) return harness_output_levels[i].level;
    }
    return -1;
}

const char *harness_output_level_name(int level)
{
    for (size_t i = 0; i < sizeof harness_output_levels / sizeof harness_output_levels[0]; i++) {
        if (harness_output_levels[i].level == level) return harness_output_levels[i].name;
    }
    return "log";
}

int harness_output_claim_stdout(void)
{
    fflush(stdout);
    int fd = dup(1);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    /* whatever the library prints to stdout now lands on stderr */
    if (dup2(2, 1) < 0) {
        fclose(f);
        return -1;
    }
    harness_output_json = f;
    return 0;
}

void harness_output_release_stdout(void)
{
    pthread_mutex_lock(&harness_output_mutex);
    if (harness_output_json) {
        fflush(stdout);
        fflush(harness_output_json);
        /* give fd 1 back, so anything printed after the run goes where the
         * user pointed stdout */
        dup2(fileno(harness_output_json), 1);
        fclose(harness_output_json);
        harness_output_json = NULL;
    }
    pthread_mutex_unlock(&harness_output_mutex);
}

void harness_output_stdout_line(const char *line, size_t len)
{
    pthread_mutex_lock(&harness_output_mutex);
    FILE *f = harness_output_json ? harness_output_json : stdout;
    fwrite(line, 1, len, f);
    fputc('\n', f);
    fflush(f);
    pthread_mutex_unlock(&harness_output_mutex);
}

static void harness_output_stderr_record(const char *prefix, const char *text, size_t len)
{
    pthread_mutex_lock(&harness_output_mutex);
    /* stdout first: a reader of both streams sees frames before the log
     * lines that follow them */
    fflush(stdout);
    fputs(prefix, stderr);
    fwrite(text, 1, len, stderr);
    if (len == 0 || text[len - 1] != '\n') fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&harness_output_mutex);
}

void harness_output_library_log(int level, const char *text, size_t len)
{
    if (level < harness_output_level()) return;
    /* a library may include the terminating NUL in len */
    while (len > 0 && text[len - 1] == '\0') len--;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "[%s] ", harness_output_level_name(level));
    harness_output_stderr_record(prefix, text, len);
}

void harness_output_stderr_line(const char *line)
{
    harness_output_stderr_record("", line, strlen(line));
}

void harness_log(int level, const char *fmt, ...)
{
    if (level < HARNESS_LOG_INFO && level < harness_output_level()) return;
    struct harness_strbuf sb = HARNESS_STRBUF_INIT;
    harness_strbuf_appendf(&sb, "[%s] harness: ", harness_output_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    harness_strbuf_vappendf(&sb, fmt, ap);
    va_end(ap);
    harness_output_stderr_record("", sb.data, sb.len);
    harness_strbuf_destroy(&sb);
}

void harness_output_emergency_flush(void)
{
    /* try briefly: a thread stuck while holding the lock must not block an
     * exit that is already overdue */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int locked = pthread_mutex_timedlock(&harness_output_mutex, &ts) == 0;
    if (harness_output_json) fflush(harness_output_json);
    fflush(stdout);
    fflush(stderr);
    if (locked) pthread_mutex_unlock(&harness_output_mutex);
}
