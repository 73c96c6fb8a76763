/* Item states as the node core keeps them, fed by the RAW events the library
 * publishes (single RAW/<kind>/<path> and bulk RAW lists), so the mock core
 * can answer item.state the way a real node would. */
#ifndef HARNESS_ITEM_STORE_H
#define HARNESS_ITEM_STORE_H

#include <msgpack.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct harness_item;

struct harness_item_store {
    pthread_mutex_t mutex;
    struct harness_item **buckets;
    size_t bucket_count;
    size_t count;
};

void harness_item_store_init(struct harness_item_store *store);
void harness_item_store_destroy(struct harness_item_store *store);
/* a published frame; anything that is not a RAW event is ignored. Returns
 * -1 (and says why) for a RAW event the core would reject. */
int harness_item_store_apply_frame(struct harness_item_store *store, const char *topic, const char *payload,
                                   size_t len, char *why, size_t why_len);
/* pack a list of {oid, status, value}, ordered by OID, for the items that
 * match any mask (NULL/0 masks: all items) */
void harness_item_store_pack_query(struct harness_item_store *store, const char *const *masks, size_t mask_count,
                                   msgpack_packer *pk);
size_t harness_item_store_count(struct harness_item_store *store);
/* 1 when an OID mask ("sensor:tests/#", "#", "*") covers oid */
int harness_item_store_oid_match(const char *mask, const char *oid);

#endif
