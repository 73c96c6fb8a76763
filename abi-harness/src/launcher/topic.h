/* Bus topics: MQTT-style masks as the bus matches them ('+' one level, '#'
 * this level and everything below, also the parent itself as MQTT does), and
 * the set of topics the library subscribed to. */
#ifndef HARNESS_TOPIC_H
#define HARNESS_TOPIC_H

#include <pthread.h>
#include <stddef.h>

int harness_topic_match(const char *mask, const char *topic);

struct harness_topic_set {
    pthread_mutex_t mutex;
    char **topics;
    size_t count;
    size_t cap;
};

void harness_topic_set_init(struct harness_topic_set *set);
void harness_topic_set_destroy(struct harness_topic_set *set);
/* 1 when added, 0 when it was there already */
int harness_topic_set_add(struct harness_topic_set *set, const char *topic);
/* 1 when removed, 0 when it was not there */
int harness_topic_set_remove(struct harness_topic_set *set, const char *topic);
/* 1 when some subscription matches topic */
int harness_topic_set_matches(struct harness_topic_set *set, const char *topic);
/* copy of the subscriptions (free each and the array) */
char **harness_topic_set_list(struct harness_topic_set *set, size_t *count);

#endif
