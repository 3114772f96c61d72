/* SPDX-License-Identifier: MIT */
/*
 * mlbctl: the operator CLI of mlbd. Connects to the control socket, says hello, sends one
 * question (status, pools, services, peers) or a reload, waits at most MLBCTL_TIMEOUT_MS
 * for the reply with its id (notifications are skipped) and prints it as a table, or as
 * received (minus "op" and "id") with --json. Exit codes: 0 ok, 1 failure (no connection,
 * error reply, timeout), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "control-proto.h"
#include "util/macro.h"

#define MLBCTL_DEFAULT_SOCKET "/run/mlbd/mlbd.sock"
#define MLBCTL_TIMEOUT_MS 10000
#define MLBCTL_HELLO_ID 1
#define MLBCTL_REQUEST_ID 2

static bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static const char *arg_socket = MLBCTL_DEFAULT_SOCKET;
static bool arg_json;
static bool arg_watch;

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: mlbctl [-s SOCKET] [--json] COMMAND\n"
                "\n"
                "Commands:\n"
                "  status     node, leader, bridge, services, owned addresses, peers\n"
                "  pools      per pool: size, used, free, ranges\n"
                "  services   per Service: addresses, pool, owner node, state\n"
                "  peers      cluster members and their heartbeats\n"
                "  reload     re-read mlbd.conf and the pools file\n"
                "  events     the last takeovers, releases, conflicts, claims, failed\n"
                "             reloads and peer deaths, with their times\n"
                "\n"
                "Options:\n"
                "  -s, --socket SOCKET  control socket (default %s)\n"
                "  -j, --json           print the reply as JSON (stable for scripts)\n"
                "  -w, --watch          services: print again on every change the daemon\n"
                "                       notifies (no polling), until interrupted\n"
                "  -h, --help           show this help\n"
                "      --version        show the version\n",
                MLBCTL_DEFAULT_SOCKET);
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Reads lines until the reply whose id is the integer `id`; -ETIMEDOUT past `deadline`,
 * -ECONNRESET when the daemon closes first, -EBADMSG for a line that is not JSON. */
static int read_reply(int fd, CtlFramer *fr, json_int_t id, int64_t deadline, json_t **ret)
{
        for (;;) {
                const char *line;
                size_t len;
                unsigned line_no;
                CtlFrame k;

                while ((k = ctl_framer_next(fr, &line, &len, &line_no)) != CTL_FRAME_NONE) {
                        if (k == CTL_FRAME_TOO_LONG)
                                return -EMSGSIZE;
                        json_error_t jerr;
                        json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
                        if (!msg || !json_is_object(msg)) {
                                json_decref(msg);
                                return -EBADMSG;
                        }
                        json_t *jid = json_object_get(msg, "id");
                        if (json_is_integer(jid) && json_integer_value(jid) == id) {
                                *ret = msg;
                                return 0;
                        }
                        json_decref(msg); /* a notification or someone else's reply */
                }

                int64_t left = deadline - now_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int r = poll(&p, 1, (int)left);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return -ETIMEDOUT;

                char buf[65536];
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                r = ctl_framer_feed(fr, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
}

static const char *reply_error_text(int r)
{
        switch (r) {
        case -ETIMEDOUT:
                return "no reply from mlbd within 10 s";
        case -ECONNRESET:
                return "mlbd closed the connection before replying";
        case -EBADMSG:
                return "mlbd sent a line that is not a JSON object";
        case -EMSGSIZE:
                return "mlbd sent an overlong line";
        default:
                return strerror(-r);
        }
}

/* ---- tables ------------------------------------------------------------------------ */

typedef struct Table {
        size_t n_cols, n_cells;
        char **cells; /* row-major, header first */
} Table;

static void table_clear(Table *t)
{
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (Table){};
}

static int table_add(Table *t, const char *s)
{
        char **c = realloc(t->cells, (t->n_cells + 1) * sizeof(char *));
        if (!c)
                return -ENOMEM;
        t->cells = c;
        c[t->n_cells] = strdup(s ? s : "-");
        if (!c[t->n_cells])
                return -ENOMEM;
        t->n_cells++;
        return 0;
}

static void table_print(const Table *t)
{
        size_t width[16] = {};
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t l = strlen(t->cells[i]);
                if (l > width[i % t->n_cols])
                        width[i % t->n_cols] = l;
        }
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t c = i % t->n_cols;
                if (c == t->n_cols - 1)
                        printf("%s\n", t->cells[i]);
                else
                        printf("%-*s  ", (int)width[c], t->cells[i]);
        }
}

/* A JSON value as table text: strings as they are, integers in decimal, null "-". */
static const char *cell_text(const json_t *v, char *buf, size_t size)
{
        if (json_is_string(v))
                return json_string_value(v);
        if (json_is_integer(v)) {
                snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return buf;
        }
        if (json_is_true(v))
                return "yes";
        if (json_is_false(v))
                return "no";
        return "-";
}

/* Joins an array of strings with ","; "-" when empty. */
static char *join_array(const json_t *a)
{
        size_t i, len = 0;
        json_t *v;
        json_array_foreach(a, i, v) len += (json_is_string(v) ? json_string_length(v) : 1) + 1;
        char *s = malloc(len + 2);
        if (!s)
                return NULL;
        s[0] = '\0';
        json_array_foreach(a, i, v)
        {
                if (i > 0)
                        strcat(s, ",");
                strcat(s, json_is_string(v) ? json_string_value(v) : "?");
        }
        if (!s[0])
                strcpy(s, "-");
        return s;
}

/* ---- list tables: one row per object of a reply's array, one column per field ----- */

/* A cell's text (malloc'd, NULL on no memory) from field of obj. */
typedef char *(*CellFn)(const json_t *obj, const char *field);

typedef struct Column {
        const char *head, *field;
        CellFn cell; /* NULL: the field's value as cell_text() shows it */
} Column;

static char *cell_plain(const json_t *obj, const char *field)
{
        char b[64];
        return strdup(cell_text(json_object_get(obj, field), b, sizeof b));
}

static char *cell_joined(const json_t *obj, const char *field)
{
        return join_array(json_object_get(obj, field));
}

/* "namespace/name" */
static char *cell_key(const json_t *obj, const char *field)
{
        char b1[64], b2[64], *s;
        (void)field;
        if (asprintf(&s, "%s/%s", cell_text(json_object_get(obj, "namespace"), b1, sizeof b1),
                     cell_text(json_object_get(obj, "name"), b2, sizeof b2)) < 0)
                return NULL;
        return s;
}

/* A peer's last heartbeat: "(self)", "never", "N ms ago" or "N.N s ago". */
static char *cell_seen(const json_t *obj, const char *field)
{
        const json_t *ls = json_object_get(obj, field);
        char *s;
        int r;
        if (json_is_true(json_object_get(obj, "self")))
                return strdup("(self)");
        if (!json_is_integer(ls) || json_integer_value(ls) < 0)
                return strdup("never");
        if (json_integer_value(ls) < 1000)
                r = asprintf(&s, "%" JSON_INTEGER_FORMAT "ms ago", json_integer_value(ls));
        else
                r = asprintf(&s, "%.1fs ago", (double)json_integer_value(ls) / 1000.0);
        return r < 0 ? NULL : s;
}

static int print_list(const json_t *rep, const char *key, const Column *cols, size_t n_cols)
{
        _cleanup_(table_clear) Table t = {.n_cols = n_cols};
        size_t i;
        json_t *obj;
        int r;
        for (size_t c = 0; c < n_cols; c++)
                if ((r = table_add(&t, cols[c].head)) < 0)
                        return r;
        json_array_foreach(json_object_get(rep, key), i, obj)
        {
                for (size_t c = 0; c < n_cols; c++) {
                        _cleanup_free_ char *cell =
                            (cols[c].cell ? cols[c].cell : cell_plain)(obj, cols[c].field);
                        if (!cell || (r = table_add(&t, cell)) < 0)
                                return -ENOMEM;
                }
        }
        table_print(&t);
        return 0;
}

static int print_services(const json_t *rep)
{
        static const Column cols[] = {
            {"NAMESPACE/NAME", NULL, cell_key},
            {"STATE", "state", NULL},
            {"ADDRESSES", "addresses", cell_joined},
            {"POOL", "pool", NULL},
            {"OWNER", "owner", NULL},
            {"REASON", "reason", NULL},
        };
        return print_list(rep, "services", cols, ELEMENTSOF(cols));
}

static int print_events(const json_t *rep)
{
        static const Column cols[] = {
            {"TIME", "time", NULL}, {"TYPE", "type", NULL},       {"ADDRESS", "address", NULL},
            {"PEER", "peer", NULL}, {"MESSAGE", "message", NULL},
        };
        return print_list(rep, "events", cols, ELEMENTSOF(cols));
}

static int print_pools(const json_t *rep)
{
        static const Column cols[] = {
            {"NAME", "name", NULL},
            {"SIZE", "size", NULL},
            {"USED", "used", NULL},
            {"FREE", "free", NULL},
            {"RANGES", "ranges", cell_joined},
        };
        return print_list(rep, "pools", cols, ELEMENTSOF(cols));
}

static int print_peers(const json_t *rep)
{
        static const Column cols[] = {
            {"NAME", "name", NULL},   {"ADDRESS", "address", NULL},
            {"STATE", "state", NULL}, {"LAST-SEEN", "last_seen_ms", cell_seen},
            {"OWNED", "owned", NULL},
        };
        int r = print_list(rep, "peers", cols, ELEMENTSOF(cols));
        if (r < 0)
                return r;
        /* only the reasons that happened: a quiet line when nothing was dropped */
        const char *reason;
        json_t *count;
        bool any = false;
        json_object_foreach(json_object_get(rep, "heartbeats_dropped"), reason, count)
        {
                if (!json_is_integer(count) || json_integer_value(count) == 0)
                        continue;
                printf("%s %s %" JSON_INTEGER_FORMAT, any ? "," : "\nheartbeats dropped:", reason,
                       json_integer_value(count));
                any = true;
        }
        printf(any ? "\n" : "\nheartbeats dropped: none\n");
        return 0;
}

static int print_status(const json_t *rep)
{
        char b[32];
        const json_t *sv = json_object_get(rep, "services");
        const json_t *pe = json_object_get(rep, "peers");
        _cleanup_free_ char *owned = join_array(json_object_get(rep, "owned"));
        if (!owned)
                return -ENOMEM;

        printf("node:            %s\n", cell_text(json_object_get(rep, "node"), b, sizeof b));
        printf("version:         %s\n", cell_text(json_object_get(rep, "version"), b, sizeof b));
        printf("leader:          %s\n", cell_text(json_object_get(rep, "leader"), b, sizeof b));
        printf("bridge:          %s\n", json_is_true(json_object_get(rep, "bridge_connected"))
                                            ? "connected"
                                            : "not connected");
        printf("generation:      %s\n", cell_text(json_object_get(rep, "generation"), b, sizeof b));
        printf("services:        %s total", cell_text(json_object_get(sv, "total"), b, sizeof b));
        printf(", %s allocated", cell_text(json_object_get(sv, "allocated"), b, sizeof b));
        printf(", %s failed\n", cell_text(json_object_get(sv, "failed"), b, sizeof b));
        printf("owned addresses: %zu (%s)\n", json_array_size(json_object_get(rep, "owned")),
               owned);
        printf("peers:           %s alive", cell_text(json_object_get(pe, "alive"), b, sizeof b));
        printf(" of %s\n", cell_text(json_object_get(pe, "total"), b, sizeof b));
        return 0;
}

static int print_reload(const json_t *rep)
{
        char b1[32], b2[32];
        size_t i;
        json_t *w;
        printf("reloaded: %s pools, %s addresses\n",
               cell_text(json_object_get(rep, "pools"), b1, sizeof b1),
               cell_text(json_object_get(rep, "addresses"), b2, sizeof b2));
        json_array_foreach(json_object_get(rep, "warnings"), i, w)
        {
                if (json_is_string(w))
                        printf("warning: %s\n", json_string_value(w));
        }
        return 0;
}

static void print_error(const json_t *rep)
{
        size_t i;
        json_t *d;
        const char *code = json_string_value(json_object_get(rep, "error"));
        const char *detail = json_string_value(json_object_get(rep, "detail"));
        fprintf(stderr, "mlbctl: %s: %s\n", code ? code : "error", detail ? detail : "(no detail)");
        json_array_foreach(json_object_get(rep, "diagnostics"), i, d)
        {
                if (json_is_string(d))
                        fprintf(stderr, "%s\n", json_string_value(d));
        }
}

static int print_json(json_t *rep)
{
        json_object_del(rep, "op");
        json_object_del(rep, "id");
        if (json_dumpf(rep, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
                return -EIO;
        putchar('\n');
        return 0;
}

static int connect_socket(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Waits, without a deadline, until a notification (a message without "id") arrives;
 * every line already received is consumed. -ECONNRESET when the daemon closes. */
static int wait_notification(int fd, CtlFramer *fr)
{
        for (;;) {
                const char *line;
                size_t len;
                unsigned line_no;
                bool seen = false;
                CtlFrame k;

                while ((k = ctl_framer_next(fr, &line, &len, &line_no)) != CTL_FRAME_NONE) {
                        if (k == CTL_FRAME_TOO_LONG)
                                return -EMSGSIZE;
                        json_t *msg = json_loadb(line, len, 0, NULL);
                        seen |= json_is_object(msg) && !json_object_get(msg, "id");
                        json_decref(msg);
                }
                if (seen)
                        return 0;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                char buf[65536];
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                int r = ctl_framer_feed(fr, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
}

/* Sends one encoded request and waits for its reply. */
static int transact(int fd, CtlFramer *fr, const char *line, size_t len, json_int_t id,
                    int64_t deadline, json_t **ret)
{
        int r = send_all(fd, line, len);
        if (r < 0)
                return r;
        return read_reply(fd, fr, id, deadline, ret);
}

int main(int argc, char *argv[])
{
        enum { ARG_VERSION = 0x100 };
        static const struct option opts[] = {
            {"socket", required_argument, NULL, 's'},    {"json", no_argument, NULL, 'j'},
            {"watch", no_argument, NULL, 'w'},           {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, ARG_VERSION}, {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "+s:jwh", opts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        arg_socket = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'w':
                        arg_watch = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case ARG_VERSION:
                        printf("mlbctl %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        /* "mlbctl services --watch" as well as "mlbctl --watch services" */
        if (optind + 2 == argc &&
            (streq(argv[optind + 1], "--watch") || streq(argv[optind + 1], "-w"))) {
                arg_watch = true;
                argc--;
        }
        if (optind + 1 != argc) {
                fprintf(stderr, "mlbctl: %s\n",
                        optind == argc ? "missing command" : "too many arguments");
                usage(stderr);
                return 2;
        }
        const char *cmd = argv[optind];
        CtlOp op = ctl_op_from_string(cmd);
        if (op != CTL_OP_STATUS && op != CTL_OP_POOLS && op != CTL_OP_SERVICES &&
            op != CTL_OP_PEERS && op != CTL_OP_RELOAD && op != CTL_OP_EVENTS) {
                fprintf(stderr, "mlbctl: unknown command \"%s\"\n", cmd);
                usage(stderr);
                return 2;
        }
        if (arg_watch && op != CTL_OP_SERVICES) {
                fprintf(stderr, "mlbctl: --watch works with services only\n");
                return 2;
        }

        _cleanup_close_ int fd = connect_socket(arg_socket);
        if (fd < 0) {
                fprintf(stderr, "mlbctl: cannot connect to %s: %s\n", arg_socket, strerror(-fd));
                return 1;
        }

        _cleanup_(ctl_framer_deinit) CtlFramer fr;
        ctl_framer_init(&fr, 0);
        int64_t deadline = now_ms() + MLBCTL_TIMEOUT_MS;

        _cleanup_(json_decrefp) json_t *hid = json_integer(MLBCTL_HELLO_ID);
        _cleanup_(json_decrefp) json_t *rid = json_integer(MLBCTL_REQUEST_ID);
        _cleanup_free_ char *hello = NULL, *req = NULL;
        size_t hello_len, req_len;
        if (!hid || !rid ||
            ctl_request_encode_hello(hid, CTL_PROTOCOL_VERSION, "mlbctl", NULL, arg_watch, &hello,
                                     &hello_len) < 0 ||
            ctl_request_encode_simple(op, rid, &req, &req_len) < 0) {
                fprintf(stderr, "mlbctl: out of memory\n");
                return 1;
        }

        _cleanup_(json_decrefp) json_t *hrep = NULL;
        int r = transact(fd, &fr, hello, hello_len, MLBCTL_HELLO_ID, deadline, &hrep);
        if (r < 0) {
                fprintf(stderr, "mlbctl: hello to %s: %s\n", arg_socket, reply_error_text(r));
                return 1;
        }
        if (!json_is_string(json_object_get(hrep, "op")) ||
            !streq(json_string_value(json_object_get(hrep, "op")), "hello")) {
                print_error(hrep);
                return 1;
        }

        _cleanup_(json_decrefp) json_t *rep = NULL;
        json_int_t next_id = MLBCTL_REQUEST_ID;
again:
        json_decref(rep);
        rep = NULL;
        r = transact(fd, &fr, req, req_len, next_id, deadline, &rep);
        if (r < 0) {
                fprintf(stderr, "mlbctl: %s: %s\n", cmd, reply_error_text(r));
                return 1;
        }

        const char *rop = json_string_value(json_object_get(rep, "op"));
        if (!rop || !streq(rop, cmd)) {
                if (arg_json)
                        print_json(rep);
                print_error(rep);
                return 1;
        }
        if (arg_json)
                r = print_json(rep);
        else
                switch (op) {
                case CTL_OP_STATUS:
                        r = print_status(rep);
                        break;
                case CTL_OP_POOLS:
                        r = print_pools(rep);
                        break;
                case CTL_OP_SERVICES:
                        r = print_services(rep);
                        break;
                case CTL_OP_PEERS:
                        r = print_peers(rep);
                        break;
                case CTL_OP_EVENTS:
                        r = print_events(rep);
                        break;
                default:
                        r = print_reload(rep);
                        break;
                }
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        if (r < 0) {
                fprintf(stderr, "mlbctl: %s\n", strerror(-r));
                return 1;
        }
        if (arg_watch) {
                /* the daemon notifies subscribers of every allocation, failure, owner
                 * change and release: ask again then, never on a timer */
                r = wait_notification(fd, &fr);
                if (r < 0) {
                        fprintf(stderr, "mlbctl: %s\n", reply_error_text(r));
                        return 1;
                }
                _cleanup_(json_decrefp) json_t *nid = json_integer(++next_id);
                req = mfree(req);
                if (!nid || ctl_request_encode_simple(op, nid, &req, &req_len) < 0) {
                        fprintf(stderr, "mlbctl: out of memory\n");
                        return 1;
                }
                deadline = now_ms() + MLBCTL_TIMEOUT_MS;
                if (!arg_json)
                        printf("\n");
                goto again;
        }
        return 0;
}
