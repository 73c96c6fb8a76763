#include "json_lines.h"

#include <string.h>

#include "errcode.h"
#include "eva/topics.h"
#include "output.h"
#include "payload_json.h"
#include "strbuf.h"

static void harness_json_lines_payload(struct harness_strbuf *sb, const char *payload, size_t len)
{
    size_t mark = sb->len;
    harness_strbuf_append_str(sb, ",\"payload\":");
    if (harness_payload_json_append_packed(sb, payload, len) == 0) return;
    sb->len = mark;
    sb->data[mark] = '\0';
    harness_strbuf_append_str(sb, ",\"invalid_payload\":\"");
    harness_strbuf_append_hex(sb, payload, len);
    harness_strbuf_append_char(sb, '"');
}

void harness_json_lines_reply(const void *method, size_t method_len, const struct harness_reply *reply)
{
    struct harness_strbuf sb = HARNESS_STRBUF_INIT;
    harness_strbuf_append_str(&sb, "{\"reply\":");
    harness_payload_json_append_string(&sb, method, method_len);
    harness_strbuf_appendf(&sb, ",\"code\":%d", (int)reply->code);
    if (reply->code < 0) {
        /* the code's name next to the number; codes EVA ICS does not know are OTHER on a node */
        const char *name = harness_errcode_name(reply->code);
        harness_strbuf_appendf(&sb, ",\"error\":\"%s\"", name ? name : "unknown (OTHER on a node)");
    }
    if (reply->has_payload) harness_json_lines_payload(&sb, reply->payload, reply->payload_len);
    harness_strbuf_append_char(&sb, '}');
    harness_output_stdout_line(sb.data, sb.len);
    harness_strbuf_destroy(&sb);
}

void harness_json_lines_frame(const char *topic, const char *payload, size_t payload_len)
{
    struct harness_strbuf sb = HARNESS_STRBUF_INIT;
    harness_strbuf_append_str(&sb, "{\"frame\":");
    harness_payload_json_append_string(&sb, topic, strlen(topic));
    if (!strncmp(topic, EVA_TOPIC_LOG_INPUT_PREFIX, strlen(EVA_TOPIC_LOG_INPUT_PREFIX))) {
        /* the node's bus logs carry plain text, not MessagePack */
        harness_strbuf_append_str(&sb, ",\"text\":");
        harness_payload_json_append_string(&sb, payload, payload_len);
    } else if (payload_len) {
        harness_json_lines_payload(&sb, payload, payload_len);
    }
    harness_strbuf_append_char(&sb, '}');
    harness_output_stdout_line(sb.data, sb.len);
    harness_strbuf_destroy(&sb);
}
