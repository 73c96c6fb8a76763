/* The action ledger: every ACT/... frame ({uuid, status}) and every reply
 * to an `action`/`run` call, so the end of a run can say how actions ended
 * and whether each accepted action (the call returned 0) got exactly one
 * terminal event (COMPLETED, FAILED, CANCELED, TERMINATED) after PENDING
 * (or, for an action that ended before its call returned, as the shipped
 * virtual controller's do, a lone terminal event), and that a terminal event for a uuid no call carried belongs to a whole
 * lifecycle the library started itself (PENDING, then one terminal event);
 * any other is a violation. */
#ifndef HARNESS_ACTION_LEDGER_H
#define HARNESS_ACTION_LEDGER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct harness_action_entry;

struct harness_action_ledger {
    pthread_mutex_t mutex;
    struct harness_action_entry **buckets;
    size_t bucket_count, count;
    unsigned long accepted, completed, failed, canceled, terminated;
};

void harness_action_ledger_init(struct harness_action_ledger *ledger);
void harness_action_ledger_destroy(struct harness_action_ledger *ledger);
/* a reply to a call; ignored unless the method is action or run */
void harness_action_ledger_on_call(struct harness_action_ledger *ledger, const void *method, size_t method_len,
                                   const char *params, size_t params_len, int32_t code);
/* a published frame; ignored unless the topic is ACT/... */
void harness_action_ledger_on_frame(struct harness_action_ledger *ledger, const char *topic, const char *payload,
                                    size_t len);
/* prints "actions: N accepted, ..." on stderr and, with details, one line
 * per violation; returns the number of violations */
unsigned long harness_action_ledger_report(struct harness_action_ledger *ledger, int details);

#endif
