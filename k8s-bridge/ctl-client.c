/* SPDX-License-Identifier: MIT */
/*
 * mlbd-bridge's client of the control socket; see ctl-client.h.
 *
 * Invariants: fd >= 0 exactly in the states connecting, hello and ready, and then io is
 * its source; the output queue and the pending requests belong to the connection and are
 * emptied with it; `serial` grows with every reset, so a handler that called out (a
 * callback, a reset) can tell that the connection it was serving is gone and return.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "control-proto.h"
#include "ctl-client.h"
#include "util/log.h"

#define READ_CHUNK (64u * 1024)
/* mlbd's lines are at most CTL_LINE_MAX; a little slack lets ctl_message_parse() name an
 * overlong one before the framer would have to drop it blind. */
#define INPUT_LINE_MAX (CTL_LINE_MAX + 64u * 1024)
/* Bytes of a sync line besides its objects: {"op":"sync","id":N,"more":true,
 * "continue":true} and the four keys with their brackets, with room to spare. */
#define SYNC_OVERHEAD 256u
/* Bytes of an upsert line besides its object. */
#define UPSERT_OVERHEAD 128u

typedef struct Pending {
        json_int_t id;
        char *what; /* "sync part 2/5", "upsert Service demo/web", ... for logs */
} Pending;

struct CtlClient {
        sd_event *event;
        sd_event_source *io;
        sd_event_source *timer; /* reconnect */
        int fd;
        char *path;
        char *node;
        CtlClientCallbacks cb;
        void *userdata;

        CtlClientState state;
        uint64_t backoff_usec; /* the next wait's upper bound */
        bool unreachable_logged;
        unsigned serial;
        unsigned hello_version;

        CtlFramer in;
        char *out;
        size_t out_start, out_len, out_cap;
        size_t sync_bytes; /* size of the last full sync queued on this connection */

        Pending *pending;
        size_t pending_start, n_pending, pending_cap;
        json_int_t next_id;
};

static const char *const state_table[_CTL_CLIENT_STATE_MAX] = {
    [CTL_CLIENT_WAITING] = "waiting",
    [CTL_CLIENT_CONNECTING] = "connecting",
    [CTL_CLIENT_HELLO] = "hello",
    [CTL_CLIENT_READY] = "ready",
};

const char *ctl_client_state_to_string(CtlClientState s)
{
        return s >= 0 && s < _CTL_CLIENT_STATE_MAX ? state_table[s] : NULL;
}

static const char *const sync_keys[_OBJ_KIND_MAX] = {
    [OBJ_SERVICE] = "services",
    [OBJ_ENDPOINT_SLICE] = "endpointslices",
    [OBJ_NODE] = "nodes",
    [OBJ_NAMESPACE] = "namespaces",
};

static bool streq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);
static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static void set_state(CtlClient *c, CtlClientState s)
{
        if (c->state == s)
                return;
        log_debug("ctl-client: %s -> %s", ctl_client_state_to_string(c->state),
                  ctl_client_state_to_string(s));
        c->state = s;
}

static void pending_clear(CtlClient *c)
{
        for (size_t i = c->pending_start; i < c->n_pending; i++)
                free(c->pending[i].what);
        c->pending_start = c->n_pending = 0;
}

static int pending_push(CtlClient *c, json_int_t id, char *what)
{
        if (c->pending_start > 0 && c->pending_start == c->n_pending)
                c->pending_start = c->n_pending = 0;
        if (c->pending_start > 64 && c->pending_start > c->n_pending / 2) {
                memmove(c->pending, c->pending + c->pending_start,
                        (c->n_pending - c->pending_start) * sizeof *c->pending);
                c->n_pending -= c->pending_start;
                c->pending_start = 0;
        }
        if (GROW(c->pending, c->pending_cap, c->n_pending + 1) < 0)
                return -ENOMEM;
        c->pending[c->n_pending++] = (Pending){.id = id, .what = what};
        return 0;
}

static size_t out_queued(const CtlClient *c)
{
        return c->out_len - c->out_start;
}

static int out_append(CtlClient *c, const char *data, size_t n)
{
        if (c->out_start > 0 && c->out_start >= out_queued(c)) {
                memmove(c->out, c->out + c->out_start, out_queued(c));
                c->out_len -= c->out_start;
                c->out_start = 0;
        }
        if (c->out_len + n < n || GROW(c->out, c->out_cap, c->out_len + n) < 0)
                return -ENOMEM;
        memcpy(c->out + c->out_len, data, n);
        c->out_len += n;
        return 0;
}

static void schedule_reconnect(CtlClient *c)
{
        /* "Equal jitter": half the backoff plus a random part of the other half, so
         * bridges restarted together do not knock in step, and the wait still grows. */
        uint64_t half = c->backoff_usec / 2;
        uint64_t delay = half + randombytes_uniform((uint32_t)MIN(half, UINT32_MAX - 1) + 1);
        int r;

        c->backoff_usec = MIN(c->backoff_usec * 2, CTL_CLIENT_BACKOFF_MAX_USEC);
        if (c->timer) {
                r = sd_event_source_set_time_relative(c->timer, delay);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(c->event, &c->timer, CLOCK_MONOTONIC, delay, 0,
                                               on_timer, c);
        if (r < 0)
                log_error_errno(r, "ctl-client: cannot arm the reconnect timer: %m");
        else
                log_debug("ctl-client: next connect to %s in %" PRIu64 " ms", c->path,
                          delay / 1000);
}

/* Ends the connection (if any) and schedules the next one. */
static void client_reset(CtlClient *c)
{
        bool was_ready = c->state == CTL_CLIENT_READY;

        c->serial++;
        c->io = sd_event_source_disable_unref(c->io);
        if (c->fd >= 0)
                close(TAKE_FD(c->fd));
        ctl_framer_deinit(&c->in);
        c->out_start = c->out_len = 0;
        c->sync_bytes = 0;
        pending_clear(c);
        set_state(c, CTL_CLIENT_WAITING);
        schedule_reconnect(c);
        if (was_ready && c->cb.disconnected)
                c->cb.disconnected(c, c->userdata);
}

static void update_events(CtlClient *c)
{
        if (!c->io)
                return;
        uint32_t ev =
            c->state == CTL_CLIENT_CONNECTING ? EPOLLOUT : EPOLLIN | (out_queued(c) ? EPOLLOUT : 0);
        int r = sd_event_source_set_io_events(c->io, ev);
        if (r < 0) {
                log_error_errno(r, "ctl-client: cannot watch the socket: %m");
                client_reset(c);
        }
}

/* Queues one encoded request (line ends in '\n') and remembers it for its reply. Takes
 * what. On failure the connection is reset. */
static int queue_request(CtlClient *c, json_int_t id, const char *line, size_t len, char *what)
{
        int r;

        if (out_queued(c) + len > CTL_CLIENT_QUEUE_MAX + c->sync_bytes) {
                log_warning("ctl-client: %zu bytes wait for mlbd, more than %u beyond the last "
                            "sync; reconnecting for a full sync instead of %s",
                            out_queued(c), CTL_CLIENT_QUEUE_MAX, what);
                free(what);
                client_reset(c);
                return -ENOBUFS;
        }
        r = out_append(c, line, len);
        if (r >= 0)
                r = pending_push(c, id, what);
        else
                free(what);
        if (r < 0) {
                log_oom();
                client_reset(c);
                return r;
        }
        update_events(c);
        return 0;
}

static int send_hello(CtlClient *c, unsigned version)
{
        _cleanup_free_ char *line = NULL;
        json_int_t id = c->next_id++;
        json_t *jid = json_integer(id);
        size_t len;
        int r;

        if (!jid)
                return log_oom();
        r = ctl_request_encode_hello(jid, version, "mlbd-bridge", c->node, true, &line, &len);
        json_decref(jid);
        if (r < 0)
                return log_oom();
        char *what = NULL;
        if (asprintf(&what, "hello (version %u)", version) < 0)
                return log_oom();
        c->hello_version = version;
        return queue_request(c, id, line, len, what);
}

static void start_hello(CtlClient *c)
{
        unsigned serial = c->serial;

        ctl_framer_init(&c->in, INPUT_LINE_MAX);
        set_state(c, CTL_CLIENT_HELLO);
        if (send_hello(c, CTL_PROTOCOL_VERSION_MAX) < 0 && serial == c->serial)
                client_reset(c);
}

static void connect_failed(CtlClient *c, int r)
{
        /* mlbd not (yet) running: expected at boot and across its restarts, so said once
         * until the next success; anything else is worth a warning every time. */
        if (r == -ENOENT || r == -ECONNREFUSED || r == -EAGAIN) {
                if (!c->unreachable_logged)
                        log_info_errno(r, "ctl-client: mlbd is not reachable at %s (%m); retrying",
                                       c->path);
                else
                        log_debug_errno(r, "ctl-client: connect to %s: %m", c->path);
                c->unreachable_logged = true;
        } else
                log_warning_errno(r, "ctl-client: cannot connect to %s: %m", c->path);
        client_reset(c);
}

static void do_connect(CtlClient *c)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int r;

        /* checked in ctl_client_new() */
        memcpy(sa.sun_path, c->path, strlen(c->path));
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return connect_failed(c, -errno);
        r = sd_event_add_io(c->event, &c->io, c->fd, EPOLLOUT, on_io, c);
        if (r < 0)
                return connect_failed(c, r);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                if (errno != EINPROGRESS)
                        return connect_failed(c, -errno);
                set_state(c, CTL_CLIENT_CONNECTING);
                update_events(c);
                return;
        }
        start_hello(c);
}

static int on_timer(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata)
{
        CtlClient *c = userdata;

        if (c->state == CTL_CLIENT_WAITING)
                do_connect(c);
        return 0;
}

static void flush_out(CtlClient *c)
{
        while (out_queued(c) > 0) {
                ssize_t n =
                    send(c->fd, c->out + c->out_start, out_queued(c), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        log_warning_errno(-errno, "ctl-client: writing to mlbd failed: %m");
                        client_reset(c);
                        return;
                }
                c->out_start += (size_t)n;
        }
        if (out_queued(c) == 0)
                c->out_start = c->out_len = 0;
        update_events(c);
}

static char *describe_object(ObjKind kind, const json_t *o)
{
        const json_t *md = json_is_object(o) ? json_object_get(o, "metadata") : NULL;
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        char *s = NULL;

        if (asprintf(&s, "%s %s%s%s", obj_kind_to_string(kind), ns ? ns : "", ns ? "/" : "",
                     name ? name : "(no name)") < 0)
                return NULL;
        return s;
}

/* ---- replies and notifications ------------------------------------------------------- */

/* Takes the pending request a reply answers: by id, else (an error whose id mlbd could
 * not read) the oldest, since replies keep the order of the requests. */
static bool pending_take(CtlClient *c, const json_t *id, Pending *ret)
{
        if (c->pending_start == c->n_pending)
                return false;
        size_t i = c->pending_start;
        if (json_is_integer(id)) {
                while (i < c->n_pending && c->pending[i].id != json_integer_value(id))
                        i++;
                if (i == c->n_pending)
                        return false;
        } else if (id && !json_is_null(id))
                return false;
        for (size_t j = c->pending_start; j < i; j++) {
                log_warning("ctl-client: mlbd did not answer %s", c->pending[j].what);
                free(c->pending[j].what);
        }
        *ret = c->pending[i];
        c->pending_start = i + 1;
        return true;
}

static void log_error_reply(const Pending *p, const json_t *msg)
{
        const char *code = json_string_value(json_object_get(msg, "error"));
        const char *detail = json_string_value(json_object_get(msg, "detail"));

        log_error("ctl-client: mlbd refused %s: %s: %s", p ? p->what : "a request",
                  code ? code : "(no code)", detail ? detail : "(no detail)");
}

static void hello_answered(CtlClient *c, const json_t *msg)
{
        const char *node = json_string_value(json_object_get(msg, "node"));
        const char *server = json_string_value(json_object_get(msg, "server_version"));

        log_info("ctl-client: connected to mlbd %s on %s (node %s, protocol %u)",
                 server ? server : "?", c->path, node ? node : "?", c->hello_version);
        if (node && c->node && !streq(node, c->node))
                log_warning("ctl-client: mlbd at %s serves node %s, this bridge node %s", c->path,
                            node, c->node);
        c->backoff_usec = CTL_CLIENT_BACKOFF_MIN_USEC;
        c->unreachable_logged = false;
        set_state(c, CTL_CLIENT_READY);
        if (c->cb.connected)
                c->cb.connected(c, c->userdata);
}

/* §3: retry with a version both speak, from the range the error carries. */
static void hello_refused(CtlClient *c, const Pending *p, const json_t *msg)
{
        const char *code = json_string_value(json_object_get(msg, "error"));
        json_int_t lo = json_integer_value(json_object_get(msg, "min_version"));
        json_int_t hi = json_integer_value(json_object_get(msg, "max_version"));
        unsigned serial = c->serial;

        log_error_reply(p, msg);
        if (code && streq(code, "version_mismatch") && hi > 0) {
                json_int_t v = MIN(hi, (json_int_t)CTL_PROTOCOL_VERSION_MAX);
                if (v >= MAX(lo, (json_int_t)CTL_PROTOCOL_VERSION_MIN) &&
                    v != (json_int_t)c->hello_version) {
                        log_info("ctl-client: saying hello again with version %lld", (long long)v);
                        if (send_hello(c, (unsigned)v) < 0 && serial == c->serial)
                                client_reset(c);
                        return;
                }
                log_error("ctl-client: mlbd speaks protocol versions %lld-%lld, this bridge "
                          "%u-%u; no common version",
                          (long long)lo, (long long)hi, CTL_PROTOCOL_VERSION_MIN,
                          CTL_PROTOCOL_VERSION_MAX);
                /* Nothing changes before one of them is upgraded: knock rarely. */
                c->backoff_usec = CTL_CLIENT_BACKOFF_MAX_USEC;
        }
        client_reset(c);
}

static void log_reply(const Pending *p, const json_t *msg)
{
        const char *op = json_string_value(json_object_get(msg, "op"));

        if (op && streq(op, "sync")) {
                log_full_errno(
                    json_is_true(json_object_get(msg, "pending")) ? LOG_DEBUG : LOG_INFO, 0,
                    "ctl-client: mlbd took %s: pending %s, generation %lld, %lld "
                    "services, %lld endpointslices, %lld nodes, %lld namespaces",
                    p->what, json_is_true(json_object_get(msg, "pending")) ? "true" : "false",
                    json_integer_value(json_object_get(msg, "generation")),
                    json_integer_value(json_object_get(msg, "services")),
                    json_integer_value(json_object_get(msg, "endpointslices")),
                    json_integer_value(json_object_get(msg, "nodes")),
                    json_integer_value(json_object_get(msg, "namespaces")));
                return;
        }
        const char *result = json_string_value(json_object_get(msg, "result"));
        log_debug("ctl-client: mlbd took %s%s%s", p->what, result ? ": " : "",
                  result ? result : "");
}

static void handle_line(CtlClient *c, const char *line, size_t len, unsigned line_no)
{
        _cleanup_(json_decrefp) json_t *msg = NULL;
        CtlNotification n = {};
        CtlError err = {};
        bool is_notification;
        int r;

        r = ctl_message_parse(line, len, line_no, &msg, &n, &is_notification, &err);
        if (r < 0) {
                if (r == -ENOMEM)
                        log_oom();
                else
                        log_warning("ctl-client: ignoring a message from mlbd: %s", err.detail);
                ctl_error_clear(&err);
                return;
        }
        ctl_notification_clear(&n);
        const char *op = json_string_value(json_object_get(msg, "op"));
        const json_t *id = json_object_get(msg, "id");

        if (is_notification) {
                if (c->state == CTL_CLIENT_READY && c->cb.notification)
                        c->cb.notification(c, op, msg, c->userdata);
                return;
        }
        if (!id && streq(op, "error")) {
                const char *code = json_string_value(json_object_get(msg, "error"));
                if (code && streq(code, "too_many_clients")) {
                        log_warning("ctl-client: mlbd serves too many clients; it closes this "
                                    "connection");
                        return;
                }
        } else if (!id)
                return; /* a notification this build does not know */

        Pending p;
        if (!pending_take(c, id, &p)) {
                log_warning("ctl-client: ignoring a reply to no request of ours (line %u, op %s)",
                            line_no, op);
                return;
        }
        if (c->state == CTL_CLIENT_HELLO) {
                if (streq(op, "hello"))
                        hello_answered(c, msg);
                else
                        hello_refused(c, &p, msg);
        } else if (streq(op, "error"))
                log_error_reply(&p, msg);
        else
                log_reply(&p, msg);
        free(p.what);
}

static void read_in(CtlClient *c)
{
        char buf[READ_CHUNK];
        unsigned serial = c->serial;
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        int r;

        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return;
                log_warning_errno(-errno, "ctl-client: reading from mlbd failed: %m");
                return client_reset(c);
        }
        if (n == 0) {
                if (ctl_framer_pending(&c->in) > 0)
                        log_warning("ctl-client: mlbd closed the connection inside a message "
                                    "(%zu bytes)",
                                    ctl_framer_pending(&c->in));
                else
                        log_info("ctl-client: mlbd closed the connection");
                return client_reset(c);
        }
        r = ctl_framer_feed(&c->in, buf, (size_t)n);
        if (r < 0) {
                log_oom();
                return client_reset(c);
        }
        for (;;) {
                const char *line;
                size_t len;
                unsigned line_no;
                CtlFrame f = ctl_framer_next(&c->in, &line, &len, &line_no);

                if (f == CTL_FRAME_NONE)
                        return;
                if (f == CTL_FRAME_TOO_LONG) {
                        log_error("ctl-client: line %u from mlbd is longer than %u bytes; "
                                  "reconnecting",
                                  line_no, INPUT_LINE_MAX);
                        return client_reset(c);
                }
                handle_line(c, line, len, line_no);
                if (serial != c->serial)
                        return;
        }
}

static int on_io(_unused_ sd_event_source *s, _unused_ int fd, uint32_t revents, void *userdata)
{
        CtlClient *c = userdata;
        unsigned serial = c->serial;

        if (c->state == CTL_CLIENT_CONNECTING) {
                int err = 0;
                socklen_t l = sizeof err;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                        err = errno;
                if (err != 0) {
                        connect_failed(c, -err);
                        return 0;
                }
                start_hello(c);
                return 0;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                read_in(c);
                if (serial != c->serial)
                        return 0;
        }
        if (revents & EPOLLOUT)
                flush_out(c);
        return 0;
}

/* ---- public ------------------------------------------------------------------------- */

int ctl_client_new(CtlClient **ret, sd_event *e, const char *socket_path, const char *node,
                   const CtlClientCallbacks *cb, void *userdata)
{
        struct sockaddr_un sa;

        if (!ret || !e || !socket_path || !*socket_path)
                return -EINVAL;
        if (strlen(socket_path) >= sizeof sa.sun_path)
                return log_error_errno(-ENAMETOOLONG, "ctl-client: socket path %s is too long",
                                       socket_path);
        if (sodium_init() < 0)
                return log_error_errno(-EIO, "ctl-client: libsodium cannot start");

        _cleanup_(ctl_client_freep) CtlClient *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->fd = -EBADF;
        c->event = sd_event_ref(e);
        c->path = strdup(socket_path);
        c->node = strdup_or_null(node);
        if (!c->path || (node && !c->node))
                /* cppcheck-suppress memleak ; c is freed by its _cleanup_ */
                return -ENOMEM;
        if (cb)
                c->cb = *cb;
        c->userdata = userdata;
        c->state = CTL_CLIENT_WAITING;
        c->next_id = 1;
        ctl_framer_init(&c->in, INPUT_LINE_MAX);
        /* The first attempt at once, from the loop. */
        c->backoff_usec = 0;
        schedule_reconnect(c);
        if (!c->timer)
                return -ENOMEM;
        c->backoff_usec = CTL_CLIENT_BACKOFF_MIN_USEC;
        *ret = TAKE_PTR(c);
        return 0;
}

CtlClient *ctl_client_free(CtlClient *c)
{
        if (!c)
                return NULL;
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        ctl_framer_deinit(&c->in);
        pending_clear(c);
        free(c->pending);
        free(c->out);
        free(c->path);
        free(c->node);
        sd_event_unref(c->event);
        return mfree(c);
}

bool ctl_client_is_ready(const CtlClient *c)
{
        return c && c->state == CTL_CLIENT_READY;
}

CtlClientState ctl_client_get_state(const CtlClient *c)
{
        return c ? c->state : _CTL_CLIENT_STATE_INVALID;
}

/* One growable sync part: the four arrays in order, the header written at the end. */
typedef struct SyncPart {
        char *buf;
        size_t len, cap;
        int kind;  /* the array open now; -1 = none written yet */
        size_t in; /* objects in the open array */
        size_t objects;
} SyncPart;

static void sync_part_done(SyncPart *p)
{
        free(p->buf);
}

static int part_put(SyncPart *p, const char *s, size_t n)
{
        if (GROW(p->buf, p->cap, p->len + n + 1) < 0)
                return -ENOMEM;
        memcpy(p->buf + p->len, s, n);
        p->len += n;
        return 0;
}

static int part_puts(SyncPart *p, const char *s)
{
        return part_put(p, s, strlen(s));
}

/* Opens the array of kind k, writing the (empty) arrays of the kinds before it. */
static int part_open(SyncPart *p, int k)
{
        int r = 0;

        if (p->kind >= k)
                return 0;
        if (p->kind >= 0)
                r = part_puts(p, "]");
        for (int j = p->kind + 1; r >= 0 && j <= k; j++) {
                r = part_puts(p, j > 0 ? ",\"" : "\"");
                if (r >= 0)
                        r = part_puts(p, sync_keys[j]);
                if (r >= 0)
                        r = part_puts(p, j < k ? "\":[]" : "\":[");
        }
        p->kind = k;
        p->in = 0;
        return r;
}

typedef struct SyncLines {
        char **lines;
        size_t *lens;
        size_t n, cap, cap2;
        size_t bytes;
} SyncLines;

static void sync_lines_free(SyncLines *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->lines[i]);
        free(s->lines);
        free(s->lens);
}

/* Closes the part (the remaining arrays empty) and adds it as one line. */
static int part_finish(SyncPart *p, SyncLines *out, json_int_t id, bool more, bool cont)
{
        char *line = NULL;
        int r = part_open(p, _OBJ_KIND_MAX - 1);
        if (r < 0 || part_puts(p, "]") < 0)
                return -ENOMEM;
        p->buf[p->len] = 0;
        int n = asprintf(&line, "{\"op\":\"sync\",\"id\":%lld%s%s,%s}\n", (long long)id,
                         more ? ",\"more\":true" : "", cont ? ",\"continue\":true" : "", p->buf);
        if (n < 0)
                return -ENOMEM;
        /* SYNC_OVERHEAD covers the header, so this holds by construction. */
        if ((size_t)n - 1 > CTL_LINE_MAX) {
                free(line);
                return log_error_errno(-E2BIG, "ctl-client: a sync part came out at %d bytes",
                                       n - 1);
        }
        if (GROW(out->lines, out->cap, out->n + 1) < 0 ||
            GROW(out->lens, out->cap2, out->n + 1) < 0) {
                free(line);
                return -ENOMEM;
        }
        out->lines[out->n] = line;
        out->lens[out->n++] = (size_t)n;
        out->bytes += (size_t)n;
        p->len = 0;
        p->kind = -1;
        p->in = p->objects = 0;
        return 0;
}

/* Adds one object's text to the parts being built (emit of a CtlSyncSourceFn). */
typedef struct SyncBuild {
        CtlClient *c;
        SyncPart p;
        SyncLines *out;
        int kind;
        size_t skipped;
} SyncBuild;

static int sync_emit(void *ctx, const char *s, size_t n)
{
        SyncBuild *b = ctx;
        SyncPart *p = &b->p;
        int r;

        if (n + SYNC_OVERHEAD > CTL_CLIENT_LINE_SAFE) {
                json_t *o = json_loadb(s, n, 0, NULL);
                _cleanup_free_ char *what = describe_object(b->kind, o);
                json_decref(o);
                log_error("ctl-client: sync: skipping %s: %zu bytes, more than a line of %u may "
                          "carry",
                          what ? what : sync_keys[b->kind], n, CTL_CLIENT_LINE_SAFE);
                b->skipped++;
                return 0;
        }
        if (p->objects > 0 && p->len + 1 + n + SYNC_OVERHEAD > CTL_CLIENT_LINE_SAFE) {
                r = part_finish(p, b->out, b->c->next_id++, true, b->out->n > 0);
                if (r < 0)
                        return r;
        }
        r = part_open(p, b->kind);
        if (r >= 0 && p->in > 0)
                r = part_puts(p, ",");
        if (r >= 0)
                r = part_put(p, s, n);
        if (r < 0)
                return r;
        p->in++;
        p->objects++;
        return 0;
}

static int sync_build(CtlClient *c, CtlSyncSourceFn source, void *userdata, SyncLines *out,
                      json_int_t *first_id)
{
        SyncBuild b = {.c = c, .p = {.kind = -1}, .out = out};
        int r = 0;

        *first_id = c->next_id;
        for (b.kind = 0; b.kind < _OBJ_KIND_MAX && r >= 0; b.kind++)
                r = source((ObjKind)b.kind, sync_emit, &b, userdata);
        if (r >= 0)
                r = part_finish(&b.p, out, c->next_id++, false, out->n > 0);
        sync_part_done(&b.p);
        if (r < 0)
                return r;
        if (b.skipped > 0)
                log_warning("ctl-client: sync: %zu objects skipped, the rest sent", b.skipped);
        return 0;
}

int ctl_client_sync_each(CtlClient *c, CtlSyncSourceFn source, void *userdata)
{
        SyncLines lines = {};
        json_int_t id;
        int r;

        if (!c || !source)
                return -EINVAL;
        if (c->state != CTL_CLIENT_READY) {
                log_debug("ctl-client: not connected; sync dropped (the next connection syncs)");
                return CTL_CLIENT_DROPPED;
        }
        r = sync_build(c, source, userdata, &lines, &id);
        if (r < 0) {
                sync_lines_free(&lines);
                if (r == -ENOMEM)
                        log_oom();
                client_reset(c);
                return r;
        }
        log_debug("ctl-client: sync of %zu bytes in %zu parts", lines.bytes, lines.n);
        /* The bound is on what waits beyond this sync; checked for the whole of it first,
         * so a sync is never queued in part. */
        if (out_queued(c) > CTL_CLIENT_QUEUE_MAX) {
                log_warning("ctl-client: %zu bytes wait for mlbd, more than %u; reconnecting "
                            "for a full sync instead of queueing another",
                            out_queued(c), CTL_CLIENT_QUEUE_MAX);
                sync_lines_free(&lines);
                client_reset(c);
                return -ENOBUFS;
        }
        c->sync_bytes = lines.bytes;
        unsigned serial = c->serial;
        for (size_t i = 0; i < lines.n && r >= 0; i++) {
                char *what = NULL;
                if (asprintf(&what, "sync part %zu/%zu", i + 1, lines.n) < 0) {
                        log_oom();
                        client_reset(c);
                        r = -ENOMEM;
                        break;
                }
                r = queue_request(c, id + (json_int_t)i, lines.lines[i], lines.lens[i], what);
                /* each part goes as soon as it is queued: not held twice */
                lines.lines[i] = mfree(lines.lines[i]);
                if (serial != c->serial)
                        break;
        }
        sync_lines_free(&lines);
        return r < 0 ? r : CTL_CLIENT_QUEUED;
}

/* The source of ctl_client_sync(): the objects of JSON arrays, dumped. */
static int arrays_source(ObjKind k, CtlSyncEmitFn emit, void *ctx, void *userdata)
{
        const json_t *const *arrays = userdata;
        size_t i;
        json_t *o;

        if (arrays[k] && !json_is_array(arrays[k])) {
                log_error("ctl-client: sync: %s is not an array; sent empty", sync_keys[k]);
                return 0;
        }
        json_array_foreach(arrays[k], i, o)
        {
                if (!json_is_object(o)) {
                        log_error("ctl-client: sync: skipping %s[%zu], not a JSON object",
                                  sync_keys[k], i);
                        continue;
                }
                _cleanup_free_ char *s = json_dumps(o, JSON_COMPACT);
                if (!s)
                        return -ENOMEM;
                int r = emit(ctx, s, strlen(s));
                if (r < 0)
                        return r;
        }
        return 0;
}

int ctl_client_sync(CtlClient *c, const json_t *services, const json_t *endpointslices,
                    const json_t *nodes, const json_t *namespaces)
{
        const json_t *arrays[_OBJ_KIND_MAX] = {
            [OBJ_SERVICE] = services,
            [OBJ_ENDPOINT_SLICE] = endpointslices,
            [OBJ_NODE] = nodes,
            [OBJ_NAMESPACE] = namespaces,
        };

        return ctl_client_sync_each(c, arrays_source, arrays);
}

int ctl_client_upsert(CtlClient *c, ObjKind kind, const json_t *object)
{
        if (!c || kind < 0 || kind >= _OBJ_KIND_MAX || !json_is_object(object))
                return -EINVAL;
        if (c->state != CTL_CLIENT_READY) {
                log_debug("ctl-client: not connected; upsert dropped");
                return CTL_CLIENT_DROPPED;
        }
        _cleanup_free_ char *what = describe_object(kind, object);
        _cleanup_free_ char *s = json_dumps(object, JSON_COMPACT);
        if (!what || !s)
                return log_oom();
        size_t n = strlen(s);
        if (n + UPSERT_OVERHEAD > CTL_CLIENT_LINE_SAFE)
                return log_error_errno(-E2BIG,
                                       "ctl-client: not sending %s: %zu bytes, more than a "
                                       "line of %u may carry",
                                       what, n, CTL_CLIENT_LINE_SAFE);
        json_int_t id = c->next_id++;
        _cleanup_free_ char *line = NULL;
        int len = asprintf(&line, "{\"op\":\"upsert\",\"id\":%lld,\"kind\":\"%s\",\"object\":%s}\n",
                           (long long)id, obj_kind_to_string(kind), s);
        if (len < 0)
                return log_oom();
        char *w = NULL;
        if (asprintf(&w, "upsert %s", what) < 0)
                return log_oom();
        return queue_request(c, id, line, (size_t)len, w);
}

int ctl_client_delete(CtlClient *c, ObjKind kind, const char *namespace, const char *name,
                      const char *uid)
{
        if (!c || kind < 0 || kind >= _OBJ_KIND_MAX || !name ||
            !!namespace != obj_kind_namespaced(kind))
                return -EINVAL;
        if (c->state != CTL_CLIENT_READY) {
                log_debug("ctl-client: not connected; delete dropped");
                return CTL_CLIENT_DROPPED;
        }
        json_int_t id = c->next_id++;
        _cleanup_(json_decrefp) json_t *m =
            json_pack("{s:s, s:I, s:s, s:s}", "op", "delete", "id", id, "kind",
                      obj_kind_to_string(kind), "name", name);
        if (!m || (namespace && json_object_set_new(m, "namespace", json_string(namespace)) < 0) ||
            (uid && json_object_set_new(m, "uid", json_string(uid)) < 0))
                return log_oom();
        _cleanup_free_ char *line = NULL;
        size_t len;
        if (ctl_encode(m, &line, &len) < 0)
                return log_oom();
        char *what = NULL;
        if (asprintf(&what, "delete %s %s%s%s", obj_kind_to_string(kind), namespace ?: "",
                     namespace ? "/" : "", name) < 0)
                return log_oom();
        return queue_request(c, id, line, len, what);
}

int ctl_client_leader(CtlClient *c, bool leader)
{
        if (!c)
                return -EINVAL;
        if (c->state != CTL_CLIENT_READY) {
                log_debug("ctl-client: not connected; leader %s dropped",
                          leader ? "true" : "false");
                return CTL_CLIENT_DROPPED;
        }
        json_int_t id = c->next_id++;
        _cleanup_(json_decrefp) json_t *jid = json_integer(id);
        _cleanup_free_ char *line = NULL;
        size_t len;
        if (!jid || ctl_request_encode_leader(jid, leader, &line, &len) < 0)
                return log_oom();
        char *what = NULL;
        if (asprintf(&what, "leader %s", leader ? "true" : "false") < 0)
                return log_oom();
        return queue_request(c, id, line, len, what);
}
