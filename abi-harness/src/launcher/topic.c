#include "topic.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int harness_topic_match(const char *mask, const char *topic)
{
    const char *m = mask, *t = topic;
    for (;;) {
        const char *me = strchr(m, '/');
        size_t mlen = me ? (size_t)(me - m) : strlen(m);
        if (mlen == 1 && m[0] == '#') return 1;
        const char *te = strchr(t, '/');
        size_t tlen = te ? (size_t)(te - t) : strlen(t);
        if (!(mlen == 1 && m[0] == '+') && !(mlen == tlen && memcmp(m, t, mlen) == 0)) return 0;
        if (!me && !te) return 1;
        if (!te) {
            /* topic ended: "a/#" still matches "a" */
            return me && strcmp(me + 1, "#") == 0;
        }
        if (!me) return 0;
        m = me + 1;
        t = te + 1;
    }
}

void harness_topic_set_init(struct harness_topic_set *set)
{
    pthread_mutex_init(&set->mutex, NULL);
    set->topics = NULL;
    set->count = 0;
    set->cap = 0;
}

void harness_topic_set_destroy(struct harness_topic_set *set)
{
    for (size_t i = 0; i < set->count; i++) free(set->topics[i]);
    free(set->topics);
    pthread_mutex_destroy(&set->mutex);
}

int harness_topic_set_add(struct harness_topic_set *set, const char *topic)
{
    pthread_mutex_lock(&set->mutex);
    for (size_t i = 0; i < set->count; i++) {
        if (!strcmp(set->topics[i], topic)) {
            pthread_mutex_unlock(&set->mutex);
            return 0;
        }
    }
    if (set->count == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 8;
        set->topics = harness_xrealloc(set->topics, set->cap * sizeof *set->topics);
    }
    set->topics[set->count++] = harness_xstrdup(topic);
    pthread_mutex_unlock(&set->mutex);
    return 1;
}

int harness_topic_set_remove(struct harness_topic_set *set, const char *topic)
{
    pthread_mutex_lock(&set->mutex);
    for (size_t i = 0; i < set->count; i++) {
        if (!strcmp(set->topics[i], topic)) {
            free(set->topics[i]);
            set->topics[i] = set->topics[--set->count];
            pthread_mutex_unlock(&set->mutex);
            return 1;
        }
    }
    pthread_mutex_unlock(&set->mutex);
    return 0;
}

int harness_topic_set_matches(struct harness_topic_set *set, const char *topic)
{
    pthread_mutex_lock(&set->mutex);
    int found = 0;
    for (size_t i = 0; i < set->count && !found; i++) found = harness_topic_match(set->topics[i], topic);
    pthread_mutex_unlock(&set->mutex);
    return found;
}

char **harness_topic_set_list(struct harness_topic_set *set, size_t *count)
{
    pthread_mutex_lock(&set->mutex);
    char **list = harness_xcalloc(set->count + 1, sizeof *list);
    for (size_t i = 0; i < set->count; i++) list[i] = harness_xstrdup(set->topics[i]);
    *count = set->count;
    pthread_mutex_unlock(&set->mutex);
    return list;
}
