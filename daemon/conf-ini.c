/* SPDX-License-Identifier: MIT */
/*
 * mlbd.conf parser; see conf.h and spec.md "mlbd.conf (INI)".
 *
 * inih splits the text into sections and key = value pairs. We feed it one line at a time
 * from memory (ini_parse_stream() with our own reader), so while inih works on a line we
 * know its number and its raw text: columns come from where inih's name/value pointers sit
 * inside the line buffer our reader filled. inih itself only returns the first syntax
 * error, so lines for which it called no handler are judged here from the raw text
 * (blank, comment, section header, or a syntax error); over-long lines and NUL bytes are
 * caught by the reader and handed to inih as a comment, so nothing is silently cut.
 *
 * Invariants: every error becomes one diagnostic (FILE:LINE:COLUMN) and parsing goes on;
 * a Conf is returned only when no error was recorded. Pure apart from gethostname() for
 * the default node name: no files, no globals (inih's runtime knobs are left alone).
 */
#include <ctype.h>
#include <ini.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "conf.h"
#include "util/fileio.h"
#include "util/log.h"

typedef enum Section {
        SECTION_NONE, /* before the first header */
        SECTION_MLBD,
        SECTION_ANNOUNCE,
        SECTION_CLUSTER,
        SECTION_METRICS,
        SECTION_SKIP, /* unknown or broken header, already reported: its keys are ignored */
        _SECTION_MAX,
} Section;

static const char *const section_names[] = {
    [SECTION_MLBD] = "mlbd",
    [SECTION_ANNOUNCE] = "announce",
    [SECTION_CLUSTER] = "cluster",
    [SECTION_METRICS] = "metrics",
};

typedef enum KeyId {
        KEY_NODE_NAME,
        KEY_POOLS,
        KEY_POOLS_DIR,
        KEY_SOCKET,
        KEY_SOCKET_GROUP,
        KEY_ADMIN_GROUP,
        KEY_STATE_DIR,
        KEY_LOG_LEVEL,
        KEY_INTERFACE,
        KEY_GARP_COUNT,
        KEY_GARP_INTERVAL_MS,
        KEY_GARP_REFRESH_S,
        KEY_CLUSTER_LISTEN,
        KEY_PEERS,
        KEY_HEARTBEAT_INTERVAL_MS,
        KEY_DEAD_AFTER_MS,
        KEY_DRAIN_MS,
        KEY_KEY_FILE,
        KEY_IGNORE_EXCLUDE_LB,
        KEY_EXCLUDE_NOT_READY,
        KEY_METRICS_LISTEN,
        _KEY_MAX,
        KEY_INVALID = -1,
} KeyId;

typedef struct ConfParser ConfParser;
typedef struct KeyDef KeyDef;
/* Parses one value; reports its own errors and returns false after doing so. */
typedef bool (*KeyParse)(ConfParser *p, const KeyDef *k, const char *value, unsigned col);

struct KeyDef {
        Section section;
        const char *name;
        KeyParse parse;
        size_t offset; /* of the field in Conf */
        unsigned min, max;
};

typedef struct PeerPos {
        unsigned line, column;
} PeerPos;

struct ConfParser {
        const char *file; /* for messages */
        const char *buf;
        size_t len, pos;

        unsigned line;   /* the line inih is working on, 1-based */
        const char *raw; /* its text in buf (after a UTF-8 BOM), raw_len bytes, no '\n' */
        size_t raw_len;
        const char *lbuf; /* inih's copy of it, which name/value point into */
        bool handled;     /* inih called the handler for this line */
        bool replaced;    /* reader gave inih a comment instead (error already reported) */
        unsigned first_syntax_error;

        Section section;
        KeyId last_key; /* key of the last key = value line, for continuation lines */
        unsigned key_line[_KEY_MAX], key_column[_KEY_MAX];
        bool key_bad[_KEY_MAX];

        size_t peers_cap, peer_pos_cap;
        PeerPos *peer_pos;

        Conf *conf;
        DiagList *diags;
        bool oom;
};

#define conf_error(p, col, ...) diag_error((p)->diags, (p)->file, (p)->line, (col), __VA_ARGS__)

static bool parse_path(ConfParser *p, const KeyDef *k, const char *v, unsigned col);
static bool parse_node_name(ConfParser *p, const KeyDef *k, const char *v, unsigned col);
static bool parse_group(ConfParser *p, const KeyDef *k, const char *v, unsigned col);
static bool parse_log_level(ConfParser *p, const KeyDef *k, const char *v, unsigned col);
static bool parse_ifname(ConfParser *p, const KeyDef *k, const char *v, unsigned col);
static bool parse_uint(ConfParser *p, const KeyDef *k, const char *v, unsigned col);
static bool parse_listen(ConfParser *p, const KeyDef *k, const char *v, unsigned col);
static bool parse_peers(ConfParser *p, const KeyDef *k, const char *v, unsigned col);
static bool parse_bool(ConfParser *p, const KeyDef *k, const char *v, unsigned col);

#define KEY(sec, n, fn, field, lo, hi)                                                             \
        {                                                                                          \
                .section = (sec), .name = (n), .parse = (fn), .offset = offsetof(Conf, field),     \
                .min = (lo), .max = (hi)                                                           \
        }
static const KeyDef keys[_KEY_MAX] = {
    [KEY_NODE_NAME] = KEY(SECTION_MLBD, "node_name", parse_node_name, node_name, 0, 0),
    [KEY_POOLS] = KEY(SECTION_MLBD, "pools", parse_path, pools, 0, 0),
    [KEY_POOLS_DIR] = KEY(SECTION_MLBD, "pools_dir", parse_path, pools_dir, 0, 0),
    [KEY_SOCKET] = KEY(SECTION_MLBD, "socket", parse_path, socket, 0, 0),
    [KEY_SOCKET_GROUP] = KEY(SECTION_MLBD, "socket_group", parse_group, socket_group, 0, 0),
    [KEY_ADMIN_GROUP] = KEY(SECTION_MLBD, "admin_group", parse_group, admin_group, 0, 0),
    [KEY_STATE_DIR] = KEY(SECTION_MLBD, "state_dir", parse_path, state_dir, 0, 0),
    [KEY_LOG_LEVEL] = KEY(SECTION_MLBD, "log_level", parse_log_level, log_level, 0, 0),
    [KEY_INTERFACE] = KEY(SECTION_ANNOUNCE, "interface", parse_ifname, announce_interface, 0, 0),
    [KEY_GARP_COUNT] = KEY(SECTION_ANNOUNCE, "garp_count", parse_uint, garp_count, 0, 100),
    [KEY_GARP_INTERVAL_MS] =
        KEY(SECTION_ANNOUNCE, "garp_interval_ms", parse_uint, garp_interval_ms, 1, 60000),
    [KEY_GARP_REFRESH_S] =
        KEY(SECTION_ANNOUNCE, "garp_refresh_s", parse_uint, garp_refresh_s, 0, 86400),
    [KEY_CLUSTER_LISTEN] = KEY(SECTION_CLUSTER, "listen", parse_listen, cluster_listen, 0, 0),
    [KEY_PEERS] = KEY(SECTION_CLUSTER, "peers", parse_peers, peers, 0, 0),
    [KEY_HEARTBEAT_INTERVAL_MS] =
        KEY(SECTION_CLUSTER, "heartbeat_interval_ms", parse_uint, heartbeat_interval_ms, 5, 10000),
    [KEY_DEAD_AFTER_MS] =
        KEY(SECTION_CLUSTER, "dead_after_ms", parse_uint, dead_after_ms, 1, 600000),
    [KEY_DRAIN_MS] = KEY(SECTION_CLUSTER, "drain_ms", parse_uint, drain_ms, 0, 60000),
    [KEY_KEY_FILE] = KEY(SECTION_CLUSTER, "key_file", parse_path, key_file, 0, 0),
    [KEY_IGNORE_EXCLUDE_LB] =
        KEY(SECTION_CLUSTER, "ignore_exclude_lb", parse_bool, ignore_exclude_lb, 0, 0),
    [KEY_EXCLUDE_NOT_READY] =
        KEY(SECTION_CLUSTER, "exclude_not_ready", parse_bool, exclude_not_ready, 0, 0),
    [KEY_METRICS_LISTEN] = KEY(SECTION_METRICS, "listen", parse_listen, metrics_listen, 0, 0),
};
#undef KEY

#define FIELD(p, k, type) ((type *)((char *)(p)->conf + (k)->offset))

static void oom(ConfParser *p)
{
        p->oom = true;
}

/* Replaces a string field; the new value is copied. */
static bool set_string(ConfParser *p, char **field, const char *v)
{
        char *s = NULL;

        if (v && !(s = strdup(v))) {
                oom(p);
                return false;
        }
        free(*field);
        *field = s;
        return true;
}

/* ---- Small helpers ---------------------------------------------------------------------- */

static unsigned levenshtein(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        unsigned row[65];

        if (la > 64 || lb > 64)
                return UINT_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned)j;
        for (size_t i = 1; i <= la; i++) {
                unsigned diag = row[0];
                row[0] = (unsigned)i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned up = row[j];
                        unsigned cost =
                            tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
                        row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
                        diag = up;
                }
        }
        return row[lb];
}

/* A close spelling is worth suggesting: up to 2 edits, and fewer than half the word. */
static bool close_enough(const char *typed, const char *known)
{
        unsigned d = levenshtein(typed, known);
        return d <= 2 && d * 2 < strlen(known);
}

static bool has_control_char(const char *s, size_t *ofs)
{
        for (size_t i = 0; s[i]; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
                        *ofs = i;
                        return true;
                }
        return false;
}

const char *node_name_invalid(const char *s, size_t *ret_ofs)
{
        size_t n = strlen(s), ofs = 0;
        const char *why = NULL;

        if (n == 0)
                why = "it is empty";
        else if (n > NODE_NAME_MAX)
                ofs = NODE_NAME_MAX, why = "it is longer than 253 characters";
        else
                for (size_t i = 0; i < n && !why; i++) {
                        char c = s[i];
                        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                        bool first = i == 0 || s[i - 1] == '.',
                             last = i == n - 1 || s[i + 1] == '.';

                        ofs = i;
                        if (c >= 'A' && c <= 'Z')
                                why = "node names are lowercase";
                        else if (!alnum && c != '-' && c != '.')
                                why = "only lowercase letters, digits, '-' and '.' are allowed";
                        else if (!alnum && (first || last))
                                why = "each dot-separated part must start and end with a "
                                      "letter or digit";
                }
        if (why && ret_ofs)
                *ret_ofs = ofs;
        return why;
}

/* ---- host:port ---------------------------------------------------------------------------- */

static const char *hostport_parse_full(const char *s, HostPort *ret, size_t *ret_ofs)
{
        const char *host, *port, *close;
        char buf[ADDR_STR_MAX];
        size_t hlen;
        u128 a;

        *ret_ofs = 0;
        if (!*s) {
                *ret = (HostPort){.set = false};
                return NULL;
        }
        if (*s == '[') {
                close = strchr(s, ']');
                if (!close)
                        return "'[' without a closing ']'";
                host = s + 1;
                hlen = (size_t)(close - host);
                if (close[1] != ':') {
                        *ret_ofs = (size_t)(close + 1 - s);
                        return "expected \":PORT\" after ']'";
                }
                port = close + 2;
        } else {
                const char *colon = strrchr(s, ':');
                if (!colon)
                        return "missing \":PORT\"";
                if (memchr(s, ':', (size_t)(colon - s)))
                        return "an IPv6 address must be written in brackets, e.g. [::]:7947";
                host = s;
                hlen = (size_t)(colon - s);
                port = colon + 1;
        }
        if (hlen == 0 || hlen >= sizeof(buf))
                return "the host is not an IP address";
        memcpy(buf, host, hlen);
        buf[hlen] = 0;
        if (!addr_parse(buf, &a)) {
                *ret_ofs = (size_t)(host - s);
                return "the host is not an IP address (names are not resolved)";
        }
        if (*s == '[' && addr_is_v4(a)) {
                *ret_ofs = (size_t)(host - s);
                return "brackets are only for IPv6 addresses";
        }
        if (*s != '[' && !addr_is_v4(a))
                return "an IPv6 address must be written in brackets, e.g. [::]:7947";

        *ret_ofs = (size_t)(port - s);
        if (!*port)
                return "the port is missing";
        unsigned long v = 0;
        for (const char *c = port; *c; c++) {
                if (*c < '0' || *c > '9')
                        return "the port is not a decimal number";
                if (v <= 65535)
                        v = v * 10 + (unsigned long)(*c - '0');
        }
        if (v < 1 || v > 65535)
                return "the port is out of range (1-65535)";
        *ret = (HostPort){.set = true, .addr = a, .port = (uint16_t)v};
        return NULL;
}

bool hostport_parse(const char *s, HostPort *ret)
{
        HostPort hp;
        size_t ofs;

        if (!s || hostport_parse_full(s, &hp, &ofs))
                return false;
        *ret = hp;
        return true;
}

const char *hostport_format(const HostPort *hp, char *buf, size_t len)
{
        char a[ADDR_STR_MAX];
        int r;

        if (!hp->set)
                r = snprintf(buf, len, "%s", "");
        else if (addr_is_v4(hp->addr))
                r = snprintf(buf, len, "%s:%u", addr_format(hp->addr, a), hp->port);
        else
                r = snprintf(buf, len, "[%s]:%u", addr_format(hp->addr, a), hp->port);
        if (r < 0 || (size_t)r >= len)
                return NULL;
        return buf;
}

/* ---- Values ------------------------------------------------------------------------------- */

/* Relative paths are taken relative to the directory of the configuration file. */
static bool parse_path(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        _cleanup_free_ char *path = NULL;
        const char *slash = strrchr(p->file, '/');
        size_t ofs;

        if (!*v) {
                conf_error(p, col, "%s needs a path", k->name);
                return false;
        }
        if (has_control_char(v, &ofs)) {
                conf_error(p, col + (unsigned)ofs, "%s contains a control character", k->name);
                return false;
        }
        if (v[0] != '/' && slash) {
                if (asprintf(&path, "%.*s%s", (int)(slash + 1 - p->file), p->file, v) < 0) {
                        path = NULL;
                        oom(p);
                        return false;
                }
        } else if (!(path = strdup(v))) {
                oom(p);
                return false;
        }
        if (strlen(path) >= PATH_MAX) {
                conf_error(p, col, "%s is too long (%zu bytes, at most %d)", k->name, strlen(path),
                           PATH_MAX - 1);
                return false;
        }
        if (k == &keys[KEY_SOCKET] && strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                conf_error(
                    p, col,
                    "socket path \"%s\" is too long for a unix socket (%zu bytes, at most %zu)",
                    path, strlen(path), sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
                return false;
        }
        free(*FIELD(p, k, char *));
        *FIELD(p, k, char *) = TAKE_PTR(path);
        return true;
}

/* Empty means the default, the host name, as for an absent key. */
static bool parse_node_name(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        const char *why;
        size_t ofs;

        if (!*v)
                return true;
        why = node_name_invalid(v, &ofs);
        if (why) {
                conf_error(p, col + (unsigned)ofs, "node_name \"%s\" is not a valid node name: %s",
                           v, why);
                return false;
        }
        return set_string(p, FIELD(p, k, char *), v);
}

/* A group name as useradd/groupadd accept it; whether it exists is checked at runtime.
 * Empty: NULL (socket_group: leave the socket's group alone; admin_group: none). */
static bool parse_group(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        size_t n = strlen(v);

        if (n > 32) {
                conf_error(p, col, "%s \"%s\" is too long (%zu characters, at most 32)", k->name, v,
                           n);
                return false;
        }
        for (size_t i = 0; i < n; i++) {
                char c = v[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                          (i > 0 && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
                if (!ok) {
                        conf_error(p, col + (unsigned)i, "%s \"%s\" is not a valid group name: %s",
                                   k->name, v,
                                   i == 0 ? "it must start with a letter or '_'"
                                          : "only letters, digits, '_', '-' and '.' are allowed");
                        return false;
                }
        }
        return set_string(p, FIELD(p, k, char *), n ? v : NULL);
}

static bool parse_log_level(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        int l = log_level_from_string(v);

        if (l < 0) {
                conf_error(p, col,
                           "log_level = \"%s\" is not one of debug, info, notice, warning, err", v);
                return false;
        }
        *FIELD(p, k, int) = l;
        return true;
}

/* The kernel's rule for interface names (dev_valid_name), limited to printable ASCII.
 * Empty: choose the interface per address. */
static bool parse_ifname(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        size_t n = strlen(v);

        if (n >= IFNAMSIZ) {
                conf_error(p, col, "interface \"%s\" is too long (%zu characters, at most %d)", v,
                           n, IFNAMSIZ - 1);
                return false;
        }
        if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
                conf_error(p, col, "interface \"%s\" is not a valid interface name", v);
                return false;
        }
        for (size_t i = 0; i < n; i++)
                if (v[i] <= ' ' || v[i] >= 0x7f || v[i] == '/' || v[i] == ':') {
                        conf_error(p, col + (unsigned)i,
                                   "interface \"%s\" is not a valid interface name: "
                                   "'/', ':', spaces and control characters are not allowed",
                                   v);
                        return false;
                }
        return set_string(p, FIELD(p, k, char *), n ? v : NULL);
}

/* Decimal only: no sign, no base prefix, no unit, no trailing junk. */
static bool parse_uint(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        unsigned long long x = 0;

        if (!*v) {
                conf_error(p, col, "%s needs a value (%u-%u)", k->name, k->min, k->max);
                return false;
        }
        for (const char *c = v; *c; c++) {
                if (*c < '0' || *c > '9') {
                        conf_error(p, col, "%s = %s is not a decimal integer (%u-%u)", k->name, v,
                                   k->min, k->max);
                        return false;
                }
                if (x <= UINT_MAX)
                        x = x * 10 + (unsigned)(*c - '0');
        }
        if (x < k->min || x > k->max) {
                conf_error(p, col, "%s = %s is out of range (%u-%u)", k->name, v, k->min, k->max);
                return false;
        }
        *FIELD(p, k, unsigned) = (unsigned)x;
        return true;
}

/* true/false, as systemd spells them too: yes/no, on/off, 1/0. */
static bool parse_bool(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                    "off", "0"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return *FIELD(p, k, bool) = true;
                if (strcasecmp(v, no[i]) == 0) {
                        *FIELD(p, k, bool) = false;
                        return true;
                }
        }
        conf_error(p, col, "%s = %s is not a boolean (true or false)", k->name, v);
        return false;
}

/* [cluster] listen must be set (heartbeats need a socket); [metrics] listen may be empty
 * (metrics off). */
static bool parse_listen(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        const char *why;
        HostPort hp;
        size_t ofs;

        if (!*v && k == &keys[KEY_CLUSTER_LISTEN]) {
                conf_error(p, col,
                           "listen in [cluster] needs an address, e.g. 0.0.0.0:%u or [::]:%u",
                           MLBD_DEFAULT_CLUSTER_PORT, MLBD_DEFAULT_CLUSTER_PORT);
                return false;
        }
        why = hostport_parse_full(v, &hp, &ofs);
        if (why) {
                conf_error(p, col + (unsigned)ofs, "listen = %s is not a valid ADDRESS:PORT: %s", v,
                           why);
                return false;
        }
        *FIELD(p, k, HostPort) = hp;
        return true;
}

static const char *skip_space(const char *s, const char *end)
{
        while (s < end && isspace((unsigned char)*s))
                s++;
        return s;
}

static const char *trim_end(const char *s, const char *end)
{
        while (end > s && isspace((unsigned char)end[-1]))
                end--;
        return end;
}

static bool add_peer(ConfParser *p, const char *name, size_t nlen, unsigned ncol, const char *addr,
                     size_t alen, unsigned acol)
{
        Conf *c = p->conf;
        _cleanup_free_ char *n = strndup(name, nlen), *a = strndup(addr, alen);
        const char *why;
        size_t ofs;
        u128 ip;

        if (!n || !a) {
                oom(p);
                return false;
        }
        why = node_name_invalid(n, &ofs);
        if (why) {
                conf_error(p, ncol + (unsigned)ofs, "peer name \"%s\" is not a valid node name: %s",
                           n, why);
                return false;
        }
        if (!*a) {
                conf_error(p, acol, "peer \"%s\" has no address", n);
                return false;
        }
        if (!addr_parse(a, &ip)) {
                conf_error(p, acol, "address \"%s\" of peer \"%s\" is not an IP address", a, n);
                return false;
        }
        for (size_t i = 0; i < c->n_peers; i++) {
                if (strcmp(c->peers[i].name, n) == 0) {
                        conf_error(p, ncol,
                                   "peer \"%s\" is listed twice (first at line %u, column %u)", n,
                                   p->peer_pos[i].line, p->peer_pos[i].column);
                        return false;
                }
                if (c->peers[i].addr == ip) {
                        char buf[ADDR_STR_MAX];
                        conf_error(p, acol,
                                   "peers \"%s\" and \"%s\" have the same address %s "
                                   "(\"%s\" at line %u, column %u)",
                                   n, c->peers[i].name, addr_format(ip, buf), c->peers[i].name,
                                   p->peer_pos[i].line, p->peer_pos[i].column);
                        return false;
                }
        }
        if (GROW(c->peers, p->peers_cap, c->n_peers + 1) < 0 ||
            GROW(p->peer_pos, p->peer_pos_cap, c->n_peers + 1) < 0) {
                oom(p);
                return false;
        }
        p->peer_pos[c->n_peers] = (PeerPos){p->line, ncol};
        c->peers[c->n_peers++] = (Peer){.name = TAKE_PTR(n), .addr = ip};
        return true;
}

/* "name=ip, name=ip". One line of the list (the key's line or a continuation line); an
 * empty value or a trailing comma is fine, an empty entry in the middle is not. */
static bool parse_peers(ConfParser *p, const KeyDef *k, const char *v, unsigned col)
{
        const char *end = v + strlen(v);
        bool good = true;

        for (const char *s = v; s <= end;) {
                const char *comma = memchr(s, ',', (size_t)(end - s));
                const char *e = comma ? comma : end;
                const char *a = skip_space(s, e), *b = trim_end(a, e);
                unsigned ecol = col + (unsigned)(a - v);

                if (a == b) {
                        if (comma) {
                                conf_error(p, ecol,
                                           "peers has an empty entry (two commas in a row?)");
                                good = false;
                        }
                } else {
                        const char *eq = memchr(a, '=', (size_t)(b - a));
                        if (!eq) {
                                conf_error(p, ecol, "peers entry \"%.*s\" is not NAME=ADDRESS",
                                           (int)(b - a), a);
                                good = false;
                        } else {
                                const char *ne = trim_end(a, eq), *aa = skip_space(eq + 1, b);
                                if (!add_peer(p, a, (size_t)(ne - a), ecol, aa, (size_t)(b - aa),
                                              col + (unsigned)(aa - v)))
                                        good = false;
                        }
                }
                if (!comma)
                        break;
                s = comma + 1;
        }
        return good;
}

/* ---- Lines -------------------------------------------------------------------------------- */

static unsigned column_of(const ConfParser *p, const char *ptr)
{
        uintptr_t a = (uintptr_t)ptr, b = (uintptr_t)p->lbuf;

        if (p->lbuf && a >= b && a <= b + p->raw_len)
                return (unsigned)(a - b) + 1;
        return 1;
}

static bool in_line(const ConfParser *p, const char *ptr)
{
        uintptr_t a = (uintptr_t)ptr, b = (uintptr_t)p->lbuf;

        return p->lbuf && a >= b && a <= b + p->raw_len;
}

static Section section_lookup(const char *name)
{
        for (Section s = SECTION_MLBD; s <= SECTION_METRICS; s++)
                if (strcmp(section_names[s], name) == 0)
                        return s;
        return SECTION_SKIP;
}

/* A section header "[name]" as inih reads it: the name ends at the first ']', or at a ';'
 * after whitespace (an inline comment: then there is no ']'). Only a comment may follow.
 * Returns false if there is no ']', which inih counts as a syntax error. */
static bool section_header(ConfParser *p, const char *s, const char *end)
{
        const char *lb = s, *name, *name_end, *rest;
        bool was_space = false;
        char buf[INI_MAX_LINE + 1];

        p->last_key = KEY_INVALID;
        p->section = SECTION_SKIP;
        for (s++; s < end && *s != ']' && !(was_space && *s == ';'); s++)
                was_space = isspace((unsigned char)*s);
        if (s >= end || *s != ']') {
                conf_error(p, 1, "syntax error: section header without a closing ']'");
                return false;
        }
        name = skip_space(lb + 1, s);
        name_end = trim_end(name, s);
        rest = skip_space(s + 1, end);
        if (rest < end && *rest != ';' && *rest != '#')
                /* inih ignores this, so it does not count as inih's syntax error */
                conf_error(p, (unsigned)(rest - p->raw) + 1,
                           "syntax error: unexpected text after section header");

        size_t n = MIN((size_t)(name_end - name), sizeof(buf) - 1);
        memcpy(buf, name, n);
        buf[n] = 0;
        p->section = section_lookup(buf);
        if (p->section != SECTION_SKIP)
                return true;

        const char *guess = NULL;
        for (Section g = SECTION_MLBD; g <= SECTION_METRICS && !guess; g++)
                if (close_enough(buf, section_names[g]))
                        guess = section_names[g];
        if (guess)
                conf_error(p, (unsigned)(lb - p->raw) + 1,
                           "unknown section [%s]; did you mean [%s]?", buf, guess);
        else
                conf_error(p, (unsigned)(lb - p->raw) + 1,
                           "unknown section [%s]; known sections are [mlbd], [announce], "
                           "[cluster] and [metrics]",
                           buf);
        return true;
}

/* Judges a line inih called no handler for: blank, comment, section header or junk. */
static void finish_line(ConfParser *p)
{
        const char *end, *s;

        if (p->line == 0 || p->handled || p->replaced)
                return;
        end = p->raw + p->raw_len;
        s = skip_space(p->raw, end);
        if (s == end || *s == ';' || *s == '#')
                return;
        if (*s == '[') {
                if (!section_header(p, s, end) && !p->first_syntax_error)
                        p->first_syntax_error = p->line;
                return;
        }
        conf_error(p, 1, "syntax error: expected \"KEY = VALUE\", \"[SECTION]\" or a comment");
        if (!p->first_syntax_error)
                p->first_syntax_error = p->line;
}

/* inih's fgets-style reader over the memory buffer: one line per call. */
static char *reader(char *str, int num, void *userdata)
{
        ConfParser *p = userdata;
        const char *start, *nl;
        size_t n, content, bom = 0, bad = SIZE_MAX;

        finish_line(p);
        if (p->oom || p->pos >= p->len || num < 4)
                return NULL;
        start = p->buf + p->pos;
        nl = memchr(start, '\n', p->len - p->pos);
        n = nl ? (size_t)(nl - start) : p->len - p->pos;
        p->pos += n + (nl ? 1 : 0);
        p->line++;
        /* inih skips one UTF-8 BOM at the start of the file itself; we pass it on and only
         * leave it out of columns, so both read the same line. */
        if (p->line == 1 && n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0)
                bom = 3;
        p->raw = start + bom;
        p->raw_len = n - bom;
        p->lbuf = str + bom;
        p->handled = false;
        p->replaced = true;

        /* inih needs room for "\r\n\0" after the text. */
        content = n > 0 && start[n - 1] == '\r' ? n - 1 : n;
        start += bom;
        content -= bom;
        n -= bom;
        /* Control characters would cut the line (NUL) or end up in messages; tabs are
         * whitespace. */
        for (size_t i = 0; i < content && bad == SIZE_MAX; i++)
                if (((unsigned char)start[i] < 0x20 && start[i] != '\t') || start[i] == 0x7f)
                        bad = i;
        if (bad != SIZE_MAX && start[bad] == 0)
                conf_error(p, (unsigned)bad + 1, "line contains a NUL byte");
        else if (bad != SIZE_MAX)
                conf_error(p, (unsigned)bad + 1, "line contains a control character (0x%02x)",
                           (unsigned char)start[bad]);
        else if (content + bom > (size_t)num - 3)
                conf_error(p, 1, "line is too long (%zu characters, at most %zu)", content,
                           (size_t)num - 3 - bom);
        else
                p->replaced = false;
        if (p->replaced) {
                /* A header we cannot read: ignore its keys rather than report them against
                 * the section before. */
                const char *h = skip_space(start, start + n);
                if (h < start + n && *h == '[')
                        p->section = SECTION_SKIP;
                /* Nor blame the lines indented under it on the key before. */
                p->last_key = KEY_INVALID;
                /* A comment keeps inih in step without the text. */
                strcpy(str, ";");
                return str;
        }
        memcpy(str, start - bom, n + bom);
        str[n + bom] = 0;
        return str;
}

static void continuation(ConfParser *p, const char *value, unsigned col)
{
        KeyId k = p->last_key;

        if (k == KEY_INVALID) /* the key's own line was already reported */
                return;
        if (k == KEY_PEERS) {
                if (value[0] != '[') {
                        if (!parse_peers(p, &keys[k], value, col))
                                p->key_bad[k] = true;
                        return;
                }
        } else
                p->key_bad[k] = true;
        conf_error(p, col,
                   "indented line is read as a continuation of \"%s\" (line %u); remove the "
                   "leading whitespace (only peers may span several lines)",
                   keys[k].name, p->key_line[k]);
        /* What was meant is clear: take an indented header as a header, so the keys after
         * it are judged in the right section. */
        if (value[0] == '[') {
                const char *end = p->raw + p->raw_len;
                (void)section_header(p, skip_space(p->raw, end), end);
        }
}

static void key_elsewhere(ConfParser *p, const char *name, unsigned col, const char *where)
{
        const char *in[4];
        size_t n = 0;

        for (KeyId k = 0; k < _KEY_MAX; k++)
                if (strcmp(keys[k].name, name) == 0)
                        in[n++] = section_names[keys[k].section];
        if (n == 0)
                conf_error(p, col, "%s", where);
        else if (n == 1)
                conf_error(p, col, "%s; it belongs in [%s]", where, in[0]);
        else
                conf_error(p, col, "%s; it belongs in [%s] or [%s]", where, in[0], in[1]);
}

static int handler(void *userdata, const char *section, const char *name, const char *value)
{
        ConfParser *p = userdata;
        unsigned kcol, vcol;
        KeyId k;

        p->handled = true;
        if (p->oom)
                return 1;
        vcol = column_of(p, value);
        /* inih passes its saved copy of the previous key for a continuation line. */
        if (!in_line(p, name)) {
                continuation(p, value, vcol);
                return 1;
        }
        kcol = column_of(p, name);
        p->last_key = KEY_INVALID;
        if (p->section == SECTION_SKIP)
                return 1;
        if (!*name) {
                conf_error(p, kcol, "syntax error: missing key name before '='");
                return 1;
        }
        if (p->section == SECTION_NONE) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "key \"%s\" is outside any section", name) < 0) {
                        msg = NULL;
                        oom(p);
                        return 1;
                }
                key_elsewhere(p, name, kcol, msg);
                return 1;
        }

        for (k = 0; k < _KEY_MAX; k++)
                if (keys[k].section == p->section && strcmp(keys[k].name, name) == 0)
                        break;
        if (k == _KEY_MAX) {
                const char *sec = section_names[p->section];
                for (KeyId g = 0; g < _KEY_MAX; g++)
                        if (keys[g].section == p->section && close_enough(name, keys[g].name)) {
                                conf_error(p, kcol,
                                           "unknown key \"%s\" in section [%s]; did you mean %s?",
                                           name, sec, keys[g].name);
                                return 1;
                        }
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "unknown key \"%s\" in section [%s]", name, sec) < 0) {
                        msg = NULL;
                        oom(p);
                        return 1;
                }
                key_elsewhere(p, name, kcol, msg);
                return 1;
        }
        if (p->key_line[k]) {
                conf_error(p, kcol, "duplicate key \"%s\" in section [%s] (first set on line %u)",
                           name, section_names[p->section], p->key_line[k]);
                return 1;
        }
        p->key_line[k] = p->line;
        p->key_column[k] = vcol;
        p->last_key = k;
        if (!keys[k].parse(p, &keys[k], value, vcol))
                p->key_bad[k] = true;
        return 1;
}

/* ---- Whole file --------------------------------------------------------------------------- */

Conf *conf_free(Conf *c)
{
        if (!c)
                return NULL;
        free(c->file);
        free(c->node_name);
        free(c->pools);
        free(c->pools_dir);
        free(c->socket);
        free(c->socket_group);
        free(c->admin_group);
        free(c->state_dir);
        free(c->announce_interface);
        for (size_t i = 0; i < c->n_peers; i++)
                free(c->peers[i].name);
        free(c->peers);
        free(c->key_file);
        free(c);
        return NULL;
}

static int conf_new_defaults(const char *file, Conf **ret)
{
        _cleanup_(conf_freep) Conf *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        *c = (Conf){
            .file = strdup(file),
            .pools = strdup(MLBD_DEFAULT_POOLS),
            .pools_dir = strdup(MLBD_DEFAULT_POOLS_DIR),
            .socket = strdup(MLBD_DEFAULT_SOCKET),
            .socket_group = strdup(MLBD_DEFAULT_SOCKET_GROUP),
            .state_dir = strdup(MLBD_DEFAULT_STATE_DIR),
            .log_level = LOG_INFO,
            .garp_count = 3,
            .garp_interval_ms = 250,
            .garp_refresh_s = 0,
            .cluster_listen = {.set = true,
                               .addr = ADDR_V4_BASE,
                               .port = MLBD_DEFAULT_CLUSTER_PORT},
            .heartbeat_interval_ms = 100,
            .dead_after_ms = 400,
            .drain_ms = 2000,
            .key_file = strdup(MLBD_DEFAULT_KEY_FILE),
            .metrics_listen = {.set = true,
                               .addr = ADDR_V4_BASE | 0x7f000001,
                               .port = MLBD_DEFAULT_METRICS_PORT},
        };
        if (!c->file || !c->pools || !c->pools_dir || !c->socket || !c->socket_group ||
            !c->state_dir || !c->key_file)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

/* Checks that need several keys, once everything is read. */
static void conf_finish(ConfParser *p)
{
        Conf *c = p->conf;
        char buf[HOSTPORT_STR_MAX];

        if (!p->key_bad[KEY_HEARTBEAT_INTERVAL_MS] && !p->key_bad[KEY_DEAD_AFTER_MS] &&
            c->dead_after_ms / 2 < c->heartbeat_interval_ms) {
                if (p->key_line[KEY_DEAD_AFTER_MS]) {
                        p->line = p->key_line[KEY_DEAD_AFTER_MS];
                        conf_error(p, p->key_column[KEY_DEAD_AFTER_MS],
                                   "dead_after_ms = %u must be at least 2 x heartbeat_interval_ms "
                                   "(2 x %u = %u)",
                                   c->dead_after_ms, c->heartbeat_interval_ms,
                                   2 * c->heartbeat_interval_ms);
                } else {
                        p->line = p->key_line[KEY_HEARTBEAT_INTERVAL_MS];
                        conf_error(p, p->key_column[KEY_HEARTBEAT_INTERVAL_MS],
                                   "heartbeat_interval_ms = %u needs dead_after_ms of at least %u "
                                   "(the default is %u); set dead_after_ms in [cluster]",
                                   c->heartbeat_interval_ms, 2 * c->heartbeat_interval_ms,
                                   c->dead_after_ms);
                }
        }

        /* A socket bound to an IPv4 address cannot reach IPv6 peers, nor one bound to a
         * specific IPv6 address IPv4 peers; [::] reaches both. */
        if (!p->key_bad[KEY_CLUSTER_LISTEN] && c->cluster_listen.set) {
                u128 l = c->cluster_listen.addr;
                for (size_t i = 0; i < c->n_peers; i++) {
                        bool v4 = addr_is_v4(c->peers[i].addr);
                        if (addr_is_v4(l) == v4 || (!addr_is_v4(l) && l == 0))
                                continue;
                        p->line = p->peer_pos[i].line;
                        conf_error(p, p->peer_pos[i].column,
                                   "peer \"%s\" has an %s address, which [cluster] listen = %s "
                                   "cannot reach%s",
                                   c->peers[i].name, v4 ? "IPv4" : "IPv6",
                                   hostport_format(&c->cluster_listen, buf, sizeof(buf)),
                                   v4 ? "" : "; listen on [::] to reach both families");
                }
        }

        if (!c->node_name) {
                char host[HOST_NAME_MAX + 1] = "";
                const char *why;
                size_t ofs;

                p->line = 0;
                if (gethostname(host, sizeof(host) - 1) < 0) {
                        conf_error(
                            p, 0,
                            "cannot get the host name for node_name: %s; set node_name in [mlbd]",
                            strerror(errno));
                        return;
                }
                /* kubelet lowercases the host name to make the node name; so do we. */
                for (char *h = host; *h; h++)
                        *h = (char)tolower((unsigned char)*h);
                why = node_name_invalid(host, &ofs);
                if (why)
                        conf_error(p, 0,
                                   "the host name \"%s\" is not a valid node name (%s); "
                                   "set node_name in [mlbd]",
                                   host, why);
                else if (!(c->node_name = strdup(host)))
                        oom(p);
        }
}

int conf_parse(const char *file, const char *buf, size_t len, Conf **ret, DiagList *diags)
{
        _cleanup_(conf_freep) Conf *c = NULL;
        size_t errors_before = diags->n_errors;
        int r;

        if (!file)
                file = "-";
        r = conf_new_defaults(file, &c);
        if (r < 0)
                return r;

        ConfParser p = {
            .file = file,
            .buf = buf,
            .len = buf ? len : 0,
            .section = SECTION_NONE,
            .last_key = KEY_INVALID,
            .conf = c,
            .diags = diags,
        };
        r = ini_parse_stream(reader, &p, handler, &p);
        if (r < 0)
                p.oom = true;
        else if (r > 0 && !p.oom && r != (int)p.first_syntax_error) {
                /* inih saw a syntax error our own reading of the lines did not. */
                p.line = (unsigned)r;
                conf_error(&p, 1, "syntax error");
        }
        if (!p.oom)
                conf_finish(&p);
        free(p.peer_pos);
        if (p.oom)
                return -ENOMEM;
        if (diags->n_errors > errors_before)
                return -EINVAL;
        *ret = TAKE_PTR(c);
        return 0;
}

int conf_load(const char *path, Conf **ret, DiagList *diags)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        r = read_full_file(path, &buf, &len);
        if (r < 0) {
                diag_error(diags, path, 0, 0, "cannot read: %s", strerror(-r));
                return r;
        }
        return conf_parse(path, buf, len, ret, diags);
}
