/* SPDX-License-Identifier: MIT */
/*
 * ctl-client-tool: k8s-bridge/ctl-client.c driven from a shell test, against a real mlbd.
 *
 *   ctl-client-tool [-v] SOCKET NODE
 *
 * It behaves like the bridge's core: it keeps a cache of the four kinds of objects and,
 * each time the client reports `connected`, sends one full sync of that cache and then
 * `leader true` if it was told it is the leader. Commands come from stdin, one a line:
 *
 *   sync FILE                 FILE is {"services":[...],"endpointslices":[...],"nodes":[...],
 *                             "namespaces":[...]} (missing arrays are empty): it becomes
 *                             the cache and is sent as a full sync
 *   upsert KIND FILE          FILE holds one object: into the cache (replacing the one of
 *                             the same key) and sent
 *   delete KIND NS NAME [UID] out of the cache and sent; NS "-" for Nodes and Namespaces
 *   leader true|false         remembered (for the next connections) and sent
 *   wait-notification OP [S]  reads no further command until a notification OP arrives
 *                             (one received after this command), S seconds at most (10)
 *   wait-connected [S]        likewise, until the client is ready
 *   quit                      exit (so does the end of stdin, after a running wait)
 *
 * and it prints, one a line, flushed:
 *   connected N | disconnected N            N counts them from 1
 *   notification OP JSON                    the whole message, compact
 *   ok CMD | dropped CMD | failed CMD: ERR  what the client call returned
 *   waited WHAT | timeout WHAT              the end of a wait
 * Logs (the client's, -v for debug) go to stderr. Exit 0, or 1 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "control-proto.h"
#include "ctl-client.h"
#include "util/log.h"

typedef struct Tool {
        sd_event *event;
        CtlClient *client;
        sd_event_source *in, *wait_timer;
        CtlFramer framer;
        bool eof;
        json_t *cache[_OBJ_KIND_MAX];
        bool leader;
        unsigned n_connected, n_disconnected;
        char *wait_op; /* waiting for this notification; "" = for `connected` */
} Tool;

static const char *const cache_keys[_OBJ_KIND_MAX] = {
    [OBJ_SERVICE] = "services",
    [OBJ_ENDPOINT_SLICE] = "endpointslices",
    [OBJ_NODE] = "nodes",
    [OBJ_NAMESPACE] = "namespaces",
};

static void process_commands(Tool *t);

static bool streq_ptr(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

static void say(const char *fmt, ...) _printf_(1, 2);
static void say(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static void report(const char *cmd, int r)
{
        if (r < 0)
                say("failed %s: %s", cmd, strerror(-r));
        else if (r == CTL_CLIENT_DROPPED)
                say("dropped %s", cmd);
        else
                say("ok %s", cmd);
}

static void wait_end(Tool *t, bool ok)
{
        say("%s %s", ok ? "waited" : "timeout", *t->wait_op ? t->wait_op : "connected");
        t->wait_op = mfree(t->wait_op);
        t->wait_timer = sd_event_source_disable_unref(t->wait_timer);
        (void)sd_event_source_set_enabled(t->in, t->eof ? SD_EVENT_OFF : SD_EVENT_ON);
        process_commands(t);
}

static int sync_cache(Tool *t)
{
        return ctl_client_sync(t->client, t->cache[OBJ_SERVICE], t->cache[OBJ_ENDPOINT_SLICE],
                               t->cache[OBJ_NODE], t->cache[OBJ_NAMESPACE]);
}

static void on_connected(_unused_ CtlClient *c, void *userdata)
{
        Tool *t = userdata;

        say("connected %u", ++t->n_connected);
        report("sync (cache)", sync_cache(t));
        if (t->leader)
                report("leader true (again)", ctl_client_leader(t->client, true));
        if (t->wait_op && !*t->wait_op)
                wait_end(t, true);
}

static void on_notification(_unused_ CtlClient *c, const char *op, json_t *msg, void *userdata)
{
        Tool *t = userdata;
        _cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);

        say("notification %s %s", op, s ? s : "(out of memory)");
        if (t->wait_op && streq_ptr(t->wait_op, op))
                wait_end(t, true);
}

static void on_disconnected(_unused_ CtlClient *c, void *userdata)
{
        Tool *t = userdata;

        say("disconnected %u", ++t->n_disconnected);
}

static bool key_equal(ObjKind k, const json_t *a, const json_t *b)
{
        const json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
        const char *na = json_string_value(json_object_get(ma, "name"));
        const char *nb = json_string_value(json_object_get(mb, "name"));

        if (!na || !nb || strcmp(na, nb) != 0)
                return false;
        if (!obj_kind_namespaced(k))
                return true;
        const char *sa = json_string_value(json_object_get(ma, "namespace"));
        const char *sb = json_string_value(json_object_get(mb, "namespace"));
        return sa && sb && strcmp(sa, sb) == 0;
}

static int cmd_sync(Tool *t, const char *file)
{
        json_error_t err;
        _cleanup_(json_decrefp) json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &err);

        if (!j || !json_is_object(j)) {
                fprintf(stderr, "%s:%d:%d: %s\n", file, err.line, err.column,
                        j ? "not an object" : err.text);
                return -EINVAL;
        }
        for (int k = 0; k < _OBJ_KIND_MAX; k++) {
                json_t *a = json_object_get(j, cache_keys[k]);
                json_decref(t->cache[k]);
                t->cache[k] = a ? json_incref(a) : json_array();
                if (!t->cache[k])
                        return -ENOMEM;
        }
        return sync_cache(t);
}

static int cmd_upsert(Tool *t, const char *kind, const char *file)
{
        json_error_t err;
        ObjKind k = obj_kind_from_string(kind);
        size_t i;
        json_t *o;

        if (k < 0)
                return -EINVAL;
        _cleanup_(json_decrefp) json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &err);
        if (!j) {
                fprintf(stderr, "%s:%d:%d: %s\n", file, err.line, err.column, err.text);
                return -EINVAL;
        }
        json_array_foreach(t->cache[k], i, o) if (key_equal(k, o, j)) break;
        if (i < json_array_size(t->cache[k]))
                json_array_set(t->cache[k], i, j);
        else
                json_array_append(t->cache[k], j);
        return ctl_client_upsert(t->client, k, j);
}

static int cmd_delete(Tool *t, const char *kind, const char *ns, const char *name, const char *uid)
{
        ObjKind k = obj_kind_from_string(kind);
        size_t i;
        json_t *o;

        if (k < 0 || !ns || !name)
                return -EINVAL;
        if (streq_ptr(ns, "-"))
                ns = NULL;
        _cleanup_(json_decrefp) json_t *key =
            json_pack("{s:{s:s, s:s?}}", "metadata", "name", name, "namespace", ns);
        if (!key)
                return -ENOMEM;
        json_array_foreach(t->cache[k], i, o) if (key_equal(k, o, key))
        {
                json_array_remove(t->cache[k], i);
                break;
        }
        return ctl_client_delete(t->client, k, ns, name, uid);
}

static int on_wait_timeout(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata)
{
        wait_end(userdata, false);
        return 0;
}

static int start_wait(Tool *t, const char *op, const char *secs)
{
        uint64_t usec = (secs ? strtoull(secs, NULL, 10) : 10) * 1000000ULL;
        int r;

        t->wait_op = strdup(op);
        if (!t->wait_op)
                return -ENOMEM;
        r = sd_event_add_time_relative(t->event, &t->wait_timer, CLOCK_MONOTONIC, usec, 0,
                                       on_wait_timeout, t);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(t->in, SD_EVENT_OFF);
}

/* One command; true when it started a wait. */
static bool command(Tool *t, char *line)
{
        char *argv[6] = {};
        int argc = 0, r;
        char *save = NULL;

        for (char *w = strtok_r(line, " \t", &save); w && argc < 6;
             w = strtok_r(NULL, " \t", &save))
                argv[argc++] = w;
        if (argc == 0)
                return false;
        const char *cmd = argv[0];
        if (streq_ptr(cmd, "sync") && argc == 2)
                report("sync", cmd_sync(t, argv[1]));
        else if (streq_ptr(cmd, "upsert") && argc == 3)
                report("upsert", cmd_upsert(t, argv[1], argv[2]));
        else if (streq_ptr(cmd, "delete") && (argc == 4 || argc == 5))
                report("delete", cmd_delete(t, argv[1], argv[2], argv[3], argv[4]));
        else if (streq_ptr(cmd, "leader") && argc == 2) {
                t->leader = streq_ptr(argv[1], "true");
                report("leader", ctl_client_leader(t->client, t->leader));
        } else if (streq_ptr(cmd, "wait-notification") && (argc == 2 || argc == 3)) {
                r = start_wait(t, argv[1], argv[2]);
                if (r < 0)
                        report("wait-notification", r);
                return r >= 0;
        } else if (streq_ptr(cmd, "wait-connected") && argc <= 2) {
                if (ctl_client_is_ready(t->client)) {
                        say("waited connected");
                        return false;
                }
                r = start_wait(t, "", argv[1]);
                if (r < 0)
                        report("wait-connected", r);
                return r >= 0;
        } else if (streq_ptr(cmd, "quit"))
                (void)sd_event_exit(t->event, 0);
        else
                say("failed %s: unknown command or wrong arguments", cmd);
        return false;
}

static void process_commands(Tool *t)
{
        for (;;) {
                const char *line;
                size_t len;
                unsigned no;
                CtlFrame f = ctl_framer_next(&t->framer, &line, &len, &no);

                if (f == CTL_FRAME_NONE)
                        break;
                if (f == CTL_FRAME_TOO_LONG) {
                        say("failed line %u: too long", no);
                        continue;
                }
                if (command(t, (char *)line))
                        return;
        }
        if (t->eof && !t->wait_op)
                (void)sd_event_exit(t->event, 0);
}

static int on_stdin(_unused_ sd_event_source *s, int fd, _unused_ uint32_t revents, void *userdata)
{
        Tool *t = userdata;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                t->eof = true;
                (void)sd_event_source_set_enabled(t->in, SD_EVENT_OFF);
        } else if (ctl_framer_feed(&t->framer, buf, (size_t)n) < 0)
                return log_oom();
        process_commands(t);
        return 0;
}

static void tool_done(Tool *t)
{
        t->client = ctl_client_free(t->client);
        t->in = sd_event_source_disable_unref(t->in);
        t->wait_timer = sd_event_source_disable_unref(t->wait_timer);
        t->event = sd_event_unref(t->event);
        ctl_framer_deinit(&t->framer);
        t->wait_op = mfree(t->wait_op);
        for (int k = 0; k < _OBJ_KIND_MAX; k++)
                t->cache[k] = (json_decref(t->cache[k]), NULL);
}

int main(int argc, char **argv)
{
        _cleanup_(tool_done) Tool t = {};
        int r, a = 1;

        if (argc > 1 && streq_ptr(argv[1], "-v")) {
                log_max_level = LOG_DEBUG;
                a++;
        }
        if (argc - a != 2) {
                fprintf(stderr, "usage: ctl-client-tool [-v] SOCKET NODE\n");
                return 1;
        }
        for (int k = 0; k < _OBJ_KIND_MAX; k++)
                if (!(t.cache[k] = json_array()))
                        return 1;
        ctl_framer_init(&t.framer, 4096);
        r = sd_event_default(&t.event);
        if (r < 0)
                return log_error_errno(r, "sd_event_default: %m"), 1;
        (void)fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
        r = sd_event_add_io(t.event, &t.in, 0, EPOLLIN, on_stdin, &t);
        if (r < 0)
                return log_error_errno(r, "stdin (a pipe or FIFO, not a file): %m"), 1;
        const CtlClientCallbacks cb = {
            .connected = on_connected,
            .notification = on_notification,
            .disconnected = on_disconnected,
        };
        r = ctl_client_new(&t.client, t.event, argv[a], argv[a + 1], &cb, &t);
        if (r < 0)
                return log_error_errno(r, "ctl_client_new: %m"), 1;
        r = sd_event_loop(t.event);
        return r < 0 ? 1 : 0;
}
