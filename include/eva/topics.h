/* Bus topic prefixes. An OID "kind:group/id" becomes the path "kind/group/id". */
#ifndef EVA_TOPICS_H
#define EVA_TOPICS_H

#define EVA_TOPIC_RAW "RAW" /* bulk raw state: list of {oid, status, value} */
#define EVA_TOPIC_RAW_PREFIX "RAW/"
#define EVA_TOPIC_LOCAL_STATE_PREFIX "ST/LOC/"
#define EVA_TOPIC_REMOTE_STATE_PREFIX "ST/REM/"
#define EVA_TOPIC_REMOTE_ARCHIVE_STATE_PREFIX "ST/RAR/"
#define EVA_TOPIC_ACTION_PREFIX "ACT/"
#define EVA_TOPIC_SERVICE_STATUS "SVC/ST"
#define EVA_TOPIC_LOG_INPUT_PREFIX "LOG/IN/"
#define EVA_TOPIC_AAA_ACL_PREFIX "AAA/ACL/"
#define EVA_TOPIC_AAA_KEY_PREFIX "AAA/KEY/"
#define EVA_TOPIC_AAA_USER_PREFIX "AAA/USER/"

#endif
