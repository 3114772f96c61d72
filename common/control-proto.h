/* SPDX-License-Identifier: MIT */
/*
 * The control-socket protocol, pure part (no I/O, no globals): line framing, decoding
 * requests into typed structs with every field checked, and encoding replies and
 * notifications. docs/protocol.md is the reference; the examples in it are the test data
 * in tests/data/protocol/.
 *
 * Wire format: one JSON object per line, UTF-8, '\n'-terminated, at most CTL_LINE_MAX
 * bytes before the newline. Every request has "op" and may have "id" (a string of at most
 * CTL_ID_MAX bytes or an integer), echoed in its reply. Replies carry the request's op
 * (or "error"); notifications from the daemon have their own ops and no id.
 *
 * Error rule: decoders return 0, -ENOMEM, or -EINVAL with a CtlError filled in whose
 * detail names the line, the field path and the problem in words, e.g.
 *   line 3: services[2].spec.ports[0].port: expected an integer 1-65535, got "http"
 * Encoders return 0 and a malloc'd, NUL-terminated line ending in '\n', or -ENOMEM.
 * A CtlError must start zeroed (CtlError err = {}); decoders clear it on entry, and the
 * caller releases it with ctl_error_clear().
 */
#pragma once

#include <jansson.h>

#include "addr.h"
#include "model.h"

#define CTL_PROTOCOL_VERSION 1     /* what this build speaks by default */
#define CTL_PROTOCOL_VERSION_MIN 1 /* oldest version a peer may ask for */
#define CTL_PROTOCOL_VERSION_MAX 1
#define CTL_LINE_MAX (1024u * 1024) /* bytes per message, not counting the '\n' */
/* A Service's ports and selector as MetalLB's sharing rule compares them (alloc.h): at
 * most this many ports, this many selector labels, and the selector as sorted "k=v,..."
 * text at most this long; more is refused, never cut. */
#define CTL_SERVICE_PORTS_MAX 64u
#define CTL_SELECTOR_LABELS_MAX 64u
#define CTL_SELECTOR_TEXT_MAX 1023u
#define CTL_ID_MAX 256                  /* bytes of a string id */
#define CTL_TEXT_MAX 1024               /* client/node names, reasons, other free text */
#define CTL_SYNC_OBJECTS_MAX (1u << 20) /* objects in one sync, all parts together */
#define CTL_DETAIL_MAX 1024

/* ---- framing ----------------------------------------------------------------------- */

typedef enum CtlFrame {
        CTL_FRAME_NONE = 0, /* need more input */
        CTL_FRAME_LINE,     /* a complete line */
        CTL_FRAME_TOO_LONG, /* a line passed the limit; it is skipped up to its '\n' */
} CtlFrame;

/*
 * Splits a byte stream into lines. Feed what was read, then call ctl_framer_next() until
 * it returns CTL_FRAME_NONE before feeding again. Lines are returned without their '\n'
 * (and without a '\r' before it), NUL-terminated in place (a line may still hold NUL
 * bytes; the length is authoritative), and stay valid until the next feed. Blank lines
 * are skipped. Memory held is at most the limit plus the last chunk fed: an overlong
 * line is reported once, as soon as it passes the limit, and then dropped as it arrives.
 * Line numbers count every '\n' from 1, blank and overlong lines included.
 */
typedef struct CtlFramer {
        char *buf;
        size_t start, len, cap;
        size_t max;
        unsigned line_no; /* lines completed so far */
        bool discarding;  /* inside an overlong line */
} CtlFramer;

void ctl_framer_init(CtlFramer *f, size_t max); /* max 0 = CTL_LINE_MAX */
void ctl_framer_deinit(CtlFramer *f);
int ctl_framer_feed(CtlFramer *f, const void *data, size_t n);
/* Returns a CtlFrame; *line_no is the 1-based number of the line returned or skipped. */
CtlFrame ctl_framer_next(CtlFramer *f, const char **line, size_t *len, unsigned *line_no);
/* Bytes of an unfinished line (a peer that closes with these sent a truncated message). */
static inline size_t ctl_framer_pending(const CtlFramer *f)
{
        return f->len - f->start;
}

/* ---- errors ------------------------------------------------------------------------ */

typedef enum CtlErrorCode {
        CTL_ERR_LINE_TOO_LONG,
        CTL_ERR_BAD_JSON,
        CTL_ERR_BAD_MESSAGE, /* missing field, wrong type, out of range, invalid name */
        CTL_ERR_UNKNOWN_OP,
        CTL_ERR_UNKNOWN_KIND,
        CTL_ERR_DUPLICATE,        /* sync: the same object twice */
        CTL_ERR_VERSION_MISMATCH, /* hello: a version this daemon does not speak */
        CTL_ERR_HELLO_REQUIRED,   /* the first request on a connection was not hello */
        CTL_ERR_SYNC_IN_PROGRESS, /* something else arrived between the parts of a sync */
        CTL_ERR_TOO_MANY_OBJECTS, /* sync: more than CTL_SYNC_OBJECTS_MAX */
        CTL_ERR_RELOAD_FAILED,
        CTL_ERR_INTERNAL,         /* out of memory or another fault of the daemon */
        CTL_ERR_FORBIDDEN,        /* a state-changing request from a client not allowed it */
        CTL_ERR_TOO_MANY_CLIENTS, /* sent before closing a connection over the limit */
        _CTL_ERR_MAX,
        _CTL_ERR_INVALID = -EINVAL,
} CtlErrorCode;

const char *ctl_error_code_to_string(CtlErrorCode c);
CtlErrorCode ctl_error_code_from_string(const char *s);

typedef struct CtlError {
        CtlErrorCode code;
        json_t *id; /* the request's id when it could be read, else NULL (owned) */
        char detail[CTL_DETAIL_MAX];
} CtlError;

/* Sets code and detail (printf-style); returns -EINVAL for `return ctl_error_set(...)`. */
int ctl_error_set(CtlError *e, CtlErrorCode code, const char *fmt, ...) _printf_(3, 4);
void ctl_error_clear(CtlError *e);

/* ---- requests ---------------------------------------------------------------------- */

typedef enum CtlOp {
        CTL_OP_HELLO,
        CTL_OP_SYNC,
        CTL_OP_UPSERT,
        CTL_OP_DELETE,
        CTL_OP_LEADER,
        CTL_OP_STATUS,
        CTL_OP_POOLS,
        CTL_OP_SERVICES,
        CTL_OP_PEERS,
        CTL_OP_RELOAD,
        CTL_OP_EVENTS,
        _CTL_OP_MAX,
        _CTL_OP_INVALID = -EINVAL,
} CtlOp;

const char *ctl_op_to_string(CtlOp op);
CtlOp ctl_op_from_string(const char *s);

typedef struct CtlRequest {
        CtlOp op;
        json_t *id;    /* NULL when absent; else a JSON string or integer (owned) */
        unsigned line; /* line number it came from */
        union {
                struct {
                        unsigned version;
                        char *client;   /* e.g. "mlbd-bridge", "mlbctl" */
                        char *node;     /* NULL if not given */
                        bool subscribe; /* wants notifications */
                } hello;
                struct {
                        Model *objects; /* the objects of this message, keys unique */
                        bool more;      /* more parts follow */
                        bool cont;      /* continues an unfinished sync */
                } sync;
                struct {
                        ObjKind kind;
                        void *object; /* owned; hand to model_upsert() with TAKE_PTR */
                } upsert;
                struct {
                        ObjKind kind;
                        char *namespace; /* NULL for Node and Namespace */
                        char *name;
                        char *uid; /* NULL = delete whatever has the name */
                } del;
                struct {
                        bool leader;
                } leader;
        };
} CtlRequest;

CtlRequest *ctl_request_free(CtlRequest *r);
DEFINE_FREEP(CtlRequest, ctl_request_free);

/*
 * Decodes one line into a request, checking every field the op defines; unknown fields
 * are ignored. A sync decodes every object into a fresh Model (req->sync.objects), so a
 * failure anywhere leaves the caller's model alone. On -EINVAL, err says what is wrong
 * (and carries the id if the message had a readable one).
 */
int ctl_request_parse(const char *line, size_t len, unsigned line_no, CtlRequest **ret,
                      CtlError *err);

/* Decodes one object of a kind from its Kubernetes JSON (metadata/spec/status). `path`
 * names it in messages ("object", "services[2]"). */
int ctl_object_from_json(ObjKind kind, const json_t *j, const char *path, unsigned line_no,
                         void **ret, CtlError *err);

/* Checks a hello's version against what this build speaks (CTL_ERR_VERSION_MISMATCH). */
int ctl_check_version(const CtlRequest *hello, CtlError *err);

/*
 * Adds the objects of one sync message to the objects gathered so far on a connection
 * (part->sync.objects is emptied into *pending, created when NULL). A message without
 * "continue" starts a new sync (an unfinished *pending is dropped first); "continue"
 * with nothing pending is an error. A key already gathered, or more than
 * CTL_SYNC_OBJECTS_MAX objects, is an error; then the caller drops *pending and the whole
 * sync is refused. When part->sync.more is false, *pending is complete: hand it to
 * model_replace().
 */
int ctl_sync_gather(Model **pending, CtlRequest *part, CtlError *err);

/* ---- encoding ---------------------------------------------------------------------- */

/* Serializes msg compactly as one line ending in '\n'. */
int ctl_encode(const json_t *msg, char **ret, size_t *ret_len);

/* {"op":"error","id":..,"error":"<code>","detail":"..."} plus, for version mismatches,
 * the supported range, and any diagnostics (e.g. from a failed reload). */
int ctl_reply_error(const CtlError *e, char *const *diagnostics, size_t n_diagnostics, char **ret,
                    size_t *ret_len);

typedef struct CtlHelloReply {
        unsigned version;           /* the version agreed: the client's */
        const char *server_version; /* package version, e.g. "0.1.0" */
        const char *node;
} CtlHelloReply;
int ctl_reply_hello(const json_t *id, const CtlHelloReply *h, char **ret, size_t *ret_len);

typedef struct CtlSyncReply {
        uint64_t generation;
        bool pending;                 /* more parts expected; nothing applied yet */
        size_t counts[_OBJ_KIND_MAX]; /* objects received (pending) or now in the model */
} CtlSyncReply;
int ctl_reply_sync(const json_t *id, const CtlSyncReply *s, char **ret, size_t *ret_len);

/* Replies to upsert and delete: result is a ModelResult. */
int ctl_reply_change(const json_t *id, CtlOp op, ObjKind kind, const char *key, int result,
                     uint64_t generation, char **ret, size_t *ret_len);
int ctl_reply_leader(const json_t *id, bool leader, char **ret, size_t *ret_len);

typedef struct CtlReloadReply {
        size_t n_pools;
        AddrCount addresses;
        char *const *warnings; /* formatted diagnostics */
        size_t n_warnings;
} CtlReloadReply;
int ctl_reply_reload(const json_t *id, const CtlReloadReply *r, char **ret, size_t *ret_len);

typedef struct CtlStatus {
        const char *node;
        const char *version;
        bool leader;
        bool bridge_connected;
        uint64_t generation;
        size_t services;           /* Services mlbd handles (type LoadBalancer, its class) */
        size_t services_allocated; /* ... that have their addresses */
        size_t services_failed;    /* ... whose request cannot be met */
        const u128 *owned;         /* addresses this node announces */
        size_t n_owned;
        size_t peers_alive; /* including this node */
        size_t peers_total;
} CtlStatus;
int ctl_reply_status(const json_t *id, const CtlStatus *s, char **ret, size_t *ret_len);

typedef struct CtlPoolInfo {
        const char *name;
        const AddrRange *ranges;
        size_t n_ranges;
        bool auto_assign;
        AddrCount size;
        u128 used;
} CtlPoolInfo;
int ctl_reply_pools(const json_t *id, const CtlPoolInfo *p, size_t n, char **ret, size_t *ret_len);

typedef struct CtlServiceInfo {
        const char *namespace, *name, *uid;
        const char *state; /* "allocated", "pending", "failed" */
        const u128 *addresses;
        size_t n_addresses;
        const char *pool;        /* NULL = none yet */
        const char *owner;       /* node announcing the first address; NULL = nobody */
        const char *sharing_key; /* NULL = not shared */
        const char *reason;      /* why pending/failed; NULL otherwise */
} CtlServiceInfo;
int ctl_reply_services(const json_t *id, const CtlServiceInfo *s, size_t n, char **ret,
                       size_t *ret_len);

typedef struct CtlPeerInfo {
        const char *name;
        const char *address; /* heartbeat address as text; NULL if unknown */
        const char *state;   /* "alive", "dead", "leaving" */
        bool self;
        int64_t last_seen_ms; /* ms since the last heartbeat; -1 = never / self */
        uint64_t incarnation;
        size_t owned; /* addresses it announces */
} CtlPeerInfo;
/* A named counter, e.g. heartbeats dropped for one reason. */
typedef struct CtlCounter {
        const char *name;
        uint64_t value;
} CtlCounter;
/* dropped: heartbeats this node dropped, per reason (all reasons, also those at 0). */
int ctl_reply_peers(const json_t *id, const CtlPeerInfo *p, size_t n, const CtlCounter *dropped,
                    size_t n_dropped, char **ret, size_t *ret_len);

/* Notifications (daemon -> subscribed clients; no id). */
typedef struct CtlEventInfo {
        const char *time;    /* RFC 3339, UTC, milliseconds */
        const char *type;    /* "takeover", ... (docs/metrics.md) */
        const char *address; /* NULL: none */
        const char *peer;    /* NULL: none */
        const char *message;
} CtlEventInfo;
int ctl_reply_events(const json_t *id, const CtlEventInfo *ev, size_t n, char **ret,
                     size_t *ret_len);
int ctl_notify_allocated(const char *service, const char *uid, const u128 *addresses, size_t n,
                         const char *pool, char **ret, size_t *ret_len);
int ctl_notify_allocation_failed(const char *service, const char *uid, const char *reason,
                                 char **ret, size_t *ret_len);
int ctl_notify_node_assigned(const char *service, const char *uid, u128 address, const char *node,
                             char **ret, size_t *ret_len);
int ctl_notify_released(const char *service, const char *uid, const u128 *addresses, size_t n,
                        char **ret, size_t *ret_len);

/* Client side: requests without arguments (status, pools, services, peers, reload). */
int ctl_request_encode_simple(CtlOp op, const json_t *id, char **ret, size_t *ret_len);
int ctl_request_encode_hello(const json_t *id, unsigned version, const char *client,
                             const char *node, bool subscribe, char **ret, size_t *ret_len);
int ctl_request_encode_leader(const json_t *id, bool leader, char **ret, size_t *ret_len);

/* ---- client side: messages from the daemon ------------------------------------------ */

typedef enum CtlNotifyType {
        CTL_NOTIFY_ALLOCATED,
        CTL_NOTIFY_ALLOCATION_FAILED,
        CTL_NOTIFY_NODE_ASSIGNED,
        CTL_NOTIFY_RELEASED,
        _CTL_NOTIFY_MAX,
        _CTL_NOTIFY_INVALID = -EINVAL,
} CtlNotifyType;
const char *ctl_notify_type_to_string(CtlNotifyType t);
CtlNotifyType ctl_notify_type_from_string(const char *s);

typedef struct CtlNotification {
        CtlNotifyType type;
        char *service; /* "ns/name" */
        char *namespace, *name;
        char *uid;
        u128 *addresses; /* allocated, released: the list; node_assigned: one */
        size_t n_addresses;
        char *pool;   /* allocated, optional */
        char *node;   /* node_assigned */
        char *reason; /* allocation_failed */
} CtlNotification;
void ctl_notification_clear(CtlNotification *n);

/*
 * Decodes one line from the daemon. Returns 0 with *msg set (owned JSON object whose "op"
 * is a string) and, when it is a notification, *ret filled and *is_notification true; a
 * reply (any other op) is left to the caller to read from *msg. -EINVAL on bad input.
 */
int ctl_message_parse(const char *line, size_t len, unsigned line_no, json_t **msg,
                      CtlNotification *ret, bool *is_notification, CtlError *err);
