#include "rpc_result.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* what a stale read of an old result shows */
#define HARNESS_RPC_RESULT_POISON 0xdb

struct harness_rpc_result_slot {
    char *data;
    size_t len;
    int has_result;
    int32_t last_code; /* of the last RPC_CALL: > 0 when it set this result */
    /* the previous result, poisoned but still allocated: a library that
     * kept its pointer reads the poison, not a newer result that malloc
     * happened to place at the same address */
    char *quarantine;
};

static pthread_key_t harness_rpc_result_key;
static pthread_once_t harness_rpc_result_once = PTHREAD_ONCE_INIT;

static void harness_rpc_result_drop(struct harness_rpc_result_slot *slot)
{
    if (slot->data) {
        memset(slot->data, HARNESS_RPC_RESULT_POISON, slot->len);
        free(slot->quarantine);
        slot->quarantine = slot->data;
    }
    slot->data = NULL;
    slot->len = 0;
    slot->has_result = 0;
}

/* a pthread key rather than _Thread_local: library threads that exit free
 * their slot through the destructor */
static void harness_rpc_result_destructor(void *p)
{
    struct harness_rpc_result_slot *slot = p;
    harness_rpc_result_drop(slot);
    free(slot->quarantine);
    free(slot);
}

static void harness_rpc_result_key_init(void)
{
    pthread_key_create(&harness_rpc_result_key, harness_rpc_result_destructor);
}

static struct harness_rpc_result_slot *harness_rpc_result_slot(int create)
{
    pthread_once(&harness_rpc_result_once, harness_rpc_result_key_init);
    struct harness_rpc_result_slot *slot = pthread_getspecific(harness_rpc_result_key);
    if (!slot && create) {
        slot = harness_xcalloc(1, sizeof *slot);
        pthread_setspecific(harness_rpc_result_key, slot);
    }
    return slot;
}

void harness_rpc_result_note_call(int32_t code)
{
    harness_rpc_result_slot(1)->last_code = code;
}

int32_t harness_rpc_result_last_code(void)
{
    struct harness_rpc_result_slot *slot = harness_rpc_result_slot(0);
    return slot ? slot->last_code : 0;
}

void harness_rpc_result_set(char *data, size_t len)
{
    struct harness_rpc_result_slot *slot = harness_rpc_result_slot(1);
    harness_rpc_result_drop(slot);
    slot->data = data;
    slot->len = len;
    slot->has_result = 1;
    slot->last_code = len > INT32_MAX ? INT32_MAX : (int32_t)len;
}

int32_t harness_rpc_result_fetch(struct EvaFFIBuffer *buf, enum harness_result_mode mode,
                                 enum harness_rpc_result_problem *problem, size_t *result_len)
{
    struct harness_rpc_result_slot *slot = harness_rpc_result_slot(0);
    *result_len = 0;
    if (!slot || !slot->has_result) {
        *problem = HARNESS_RPC_RESULT_NO_CALL;
        return EVA_ERR_CODE_NOT_FOUND;
    }
    *result_len = slot->len;
    if (mode == HARNESS_RESULT_SWAP) {
        buf->data = slot->data;
        buf->len = slot->len;
        buf->max = slot->len;
    } else {
        if (!buf->data || buf->max < slot->len) {
            *problem = HARNESS_RPC_RESULT_SMALL;
            return EVA_ERR_CODE_INVALID_DATA;
        }
        memcpy(buf->data, slot->data, slot->len);
        buf->len = slot->len;
    }
    *problem = slot->last_code > 0 ? HARNESS_RPC_RESULT_OK : HARNESS_RPC_RESULT_STALE;
    return EVA_OK;
}

void harness_rpc_result_release_thread(void)
{
    struct harness_rpc_result_slot *slot = harness_rpc_result_slot(0);
    if (!slot) return;
    pthread_setspecific(harness_rpc_result_key, NULL);
    harness_rpc_result_destructor(slot);
}
