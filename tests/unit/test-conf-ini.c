/* SPDX-License-Identifier: MIT */
/*
 * mlbd.conf parser: defaults, every key with good and bad values (exact FILE:LINE:COL
 * messages as --check-config prints them), relative paths, peers, IPv6 listen addresses,
 * unknown/duplicate keys and sections, syntax errors, over-long lines, the example config
 * of spec.md, host:port helpers.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "conf.h"
#include "tap.h"
#include "util/log.h"

static char *messages; /* every diagnostic of the last parse, one per line */

static void set_messages(const DiagList *d)
{
        free(messages);
        messages = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&messages, &len);
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *s = diag_format(&d->items[i]);
                fprintf(f, "%s%s", i ? "\n" : "", s ? s : "(oom)");
        }
        fclose(f);
}

/* Parses text as FILE; returns conf_parse's result, diagnostics in `messages`. */
static int parse_as(const char *file, const char *text, Conf **ret)
{
        DiagList d = {0};
        Conf *sentinel = (Conf *)&d; /* must stay untouched on error */
        Conf *c = sentinel;
        int r = conf_parse(file, text, strlen(text), &c, &d);

        set_messages(&d);
        if (r < 0 && c != sentinel)
                ok(0, "conf_parse set *ret although it failed");
        if (r == 0 && (size_t)d.n_errors != 0)
                ok(0, "conf_parse succeeded with errors");
        diag_list_clear(&d);
        if (r == 0 && ret)
                *ret = c;
        else if (r == 0)
                conf_free(c);
        return r;
}

static int parse(const char *text, Conf **ret)
{
        return parse_as("mlbd.conf", text, ret);
}

/* The single diagnostic text for a config that must fail. */
static const char *error_of(const char *text)
{
        int r = parse(text, NULL);
        if (r != -EINVAL)
                printf("# conf_parse returned %d for:\n# %s\n", r, text);
        return messages;
}

static void test_defaults(void)
{
        _cleanup_(conf_freep) Conf *c = NULL;
        char host[HOST_NAME_MAX + 1] = "", buf[HOSTPORT_STR_MAX];

        is_int(parse("", &c), 0, "empty file is valid");
        is_str(messages, "", "empty file gives no diagnostics");
        if (!c)
                return;
        gethostname(host, sizeof(host) - 1);
        for (char *h = host; *h; h++)
                *h = (char)tolower((unsigned char)*h);
        is_str(c->node_name, host, "node_name defaults to the (lowercased) host name");
        is_str(c->pools, SYSCONFDIR "/mlbd/pools.yaml", "pools default");
        is_str(c->pools_dir, SYSCONFDIR "/mlbd/pools.d", "pools_dir default");
        is_str(c->socket, "/run/mlbd/mlbd.sock", "socket default");
        is_str(c->socket_group, "mlbd", "socket_group default");
        ok(c->admin_group == NULL, "admin_group default: none");
        is_str(c->state_dir, "/var/lib/mlbd", "state_dir default");
        is_int(c->log_level, LOG_INFO, "log_level default");
        ok(c->announce_interface == NULL, "interface default: none (chosen per address)");
        is_int(c->garp_count, 3, "garp_count default");
        is_int(c->garp_interval_ms, 250, "garp_interval_ms default");
        is_int(c->garp_refresh_s, 0, "garp_refresh_s default");
        is_str(hostport_format(&c->cluster_listen, buf, sizeof(buf)), "0.0.0.0:7947",
               "[cluster] listen default");
        is_int(c->n_peers, 0, "no peers by default");
        is_int(c->heartbeat_interval_ms, 100, "heartbeat_interval_ms default");
        is_int(c->dead_after_ms, 400, "dead_after_ms default");
        is_int(c->drain_ms, 2000, "drain_ms default");
        is_str(c->key_file, SYSCONFDIR "/mlbd/cluster.key", "key_file default");
        is_str(hostport_format(&c->metrics_listen, buf, sizeof(buf)), "127.0.0.1:7472",
               "[metrics] listen default");
        is_str(c->file, "mlbd.conf", "file name kept for messages");
}

static void test_spec_example(void)
{
        const char *top = getenv("top_srcdir");
        _cleanup_free_ char *path = NULL;
        _cleanup_(conf_freep) Conf *c = NULL;
        DiagList d = {0};
        char buf[HOSTPORT_STR_MAX];

        if (asprintf(&path, "%s/tests/data/conf/spec-example.conf", top ? top : "..") < 0)
                abort();
        is_int(conf_load(path, &c, &d), 0, "spec.md example config loads");
        set_messages(&d);
        is_str(messages, "", "spec.md example gives no diagnostics");
        diag_list_clear(&d);
        if (!c)
                return;
        is_str(c->node_name, "node1", "example: node_name");
        is_str(c->pools, "/etc/mlbd/pools.yaml", "example: pools");
        is_str(c->socket, "/run/mlbd/mlbd.sock", "example: socket");
        is_str(c->socket_group, "mlbd", "example: socket_group");
        is_str(c->state_dir, "/var/lib/mlbd", "example: state_dir");
        is_int(c->log_level, LOG_INFO, "example: log_level");
        ok(!c->announce_interface, "example: empty interface means none");
        is_int(c->garp_count, 3, "example: garp_count");
        is_int(c->garp_interval_ms, 250, "example: garp_interval_ms");
        is_int(c->garp_refresh_s, 0, "example: garp_refresh_s");
        is_str(hostport_format(&c->cluster_listen, buf, sizeof(buf)), "0.0.0.0:7947",
               "example: cluster listen");
        is_int(c->n_peers, 0, "example: empty peers");
        is_int(c->heartbeat_interval_ms, 100, "example: heartbeat_interval_ms");
        is_int(c->dead_after_ms, 400, "example: dead_after_ms");
        is_int(c->drain_ms, 2000, "example: drain_ms");
        is_str(c->key_file, "/etc/mlbd/cluster.key", "example: key_file");
        is_str(hostport_format(&c->metrics_listen, buf, sizeof(buf)), "127.0.0.1:7472",
               "example: metrics listen");
}

static void test_load_errors(void)
{
        _cleanup_(conf_freep) Conf *c = NULL;
        DiagList d = {0};

        is_int(conf_load("/nonexistent/mlbd.conf", &c, &d), -ENOENT, "missing file: -ENOENT");
        set_messages(&d);
        is_str(messages, "/nonexistent/mlbd.conf: cannot read: No such file or directory",
               "missing file: one diagnostic naming the file");
        ok(!c, "missing file: no Conf");
        diag_list_clear(&d);
}

static void test_all_keys_good(void)
{
        _cleanup_(conf_freep) Conf *c = NULL;
        char buf[HOSTPORT_STR_MAX];
        const char *text = "; every key, none at its default\n"
                           "[mlbd]\n"
                           "node_name = worker-1.example.org\n"
                           "pools = /srv/mlbd/pools.yaml\n"
                           "pools_dir = /srv/mlbd/pools.d\n"
                           "socket = /run/x.sock\n"
                           "socket_group = lb-admins\n"
                           "admin_group = lb-owners\n"
                           "state_dir = /srv/state\n"
                           "log_level = debug\n"
                           "[announce]\n"
                           "interface = enp3s0.100\n"
                           "garp_count = 0\n"
                           "garp_interval_ms = 60000\n"
                           "garp_refresh_s = 86400\n"
                           "[cluster]\n"
                           "listen = 192.0.2.10:9000\n"
                           "peers = a=192.0.2.1, b=192.0.2.2\n"
                           "heartbeat_interval_ms = 5\n"
                           "dead_after_ms = 10\n"
                           "key_file = /srv/k\n"
                           "[metrics]\n"
                           "listen = [2001:db8::7]:9100\n";

        is_int(parse(text, &c), 0, "all keys set: parses");
        is_str(messages, "", "all keys set: no diagnostics");
        if (!c)
                return;
        is_str(c->node_name, "worker-1.example.org", "node_name");
        is_str(c->pools, "/srv/mlbd/pools.yaml", "pools");
        is_str(c->pools_dir, "/srv/mlbd/pools.d", "pools_dir");
        is_str(c->socket, "/run/x.sock", "socket");
        is_str(c->socket_group, "lb-admins", "socket_group");
        is_str(c->admin_group, "lb-owners", "admin_group");
        is_str(c->state_dir, "/srv/state", "state_dir");
        is_int(c->log_level, LOG_DEBUG, "log_level debug");
        is_str(c->announce_interface, "enp3s0.100", "interface");
        is_int(c->garp_count, 0, "garp_count lower bound 0");
        is_int(c->garp_interval_ms, 60000, "garp_interval_ms upper bound");
        is_int(c->garp_refresh_s, 86400, "garp_refresh_s upper bound");
        is_str(hostport_format(&c->cluster_listen, buf, sizeof(buf)), "192.0.2.10:9000",
               "cluster listen");
        is_int(c->n_peers, 2, "two peers");
        is_int(c->heartbeat_interval_ms, 5, "heartbeat_interval_ms lower bound");
        is_int(c->dead_after_ms, 10, "dead_after_ms = exactly 2 x heartbeat");
        is_str(c->key_file, "/srv/k", "key_file");
        is_str(hostport_format(&c->metrics_listen, buf, sizeof(buf)), "[2001:db8::7]:9100",
               "metrics listen IPv6");
}

static void test_log_levels(void)
{
        static const struct {
                const char *s;
                int level;
        } t[] = {
            {"debug", LOG_DEBUG},     {"info", LOG_INFO}, {"notice", LOG_NOTICE},
            {"warning", LOG_WARNING}, {"err", LOG_ERR},
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_(conf_freep) Conf *c = NULL;
                if (asprintf(&text, "[mlbd]\nlog_level = %s\n", t[i].s) < 0)
                        abort();
                is_int(parse(text, &c), 0, "log_level = %s parses", t[i].s);
                is_int(c ? c->log_level : -1, t[i].level, "log_level = %s -> %d", t[i].s,
                       t[i].level);
        }
        is_str(error_of("[mlbd]\nlog_level = loud\n"),
               "mlbd.conf:2:13: log_level = \"loud\" is not one of debug, info, notice, warning, "
               "err",
               "bad log_level");
}

static void test_booleans(void)
{
        Conf *c = NULL;

        is_int(parse("[mlbd]\nnode_name = n1\n", &c), 0, "no exclusion keys");
        ok(c && !c->ignore_exclude_lb && !c->exclude_not_ready, "both default to false");
        conf_free(c);
        c = NULL;
        is_int(parse("[mlbd]\nnode_name = n1\n[cluster]\nignore_exclude_lb = yes\n"
                     "exclude_not_ready = TRUE\n",
                     &c),
               0, "yes and TRUE");
        ok(c && c->ignore_exclude_lb && c->exclude_not_ready, "both set");
        conf_free(c);
        c = NULL;
        is_int(parse("[mlbd]\nnode_name = n1\n[cluster]\nexclude_not_ready = off\n", &c), 0, "off");
        ok(c && !c->exclude_not_ready, "is false");
        conf_free(c);
        is_str(error_of("[cluster]\nexclude_not_ready = maybe\n"),
               "mlbd.conf:2:21: exclude_not_ready = maybe is not a boolean (true or false)",
               "a word that is not a boolean");
        is_str(error_of("[cluster]\nignore_exclude_lb =\n"),
               "mlbd.conf:2:20: ignore_exclude_lb =  is not a boolean (true or false)",
               "an empty value");
}

static void test_integers(void)
{
        is_str(error_of("[announce]\ngarp_count = 500\n"),
               "mlbd.conf:2:14: garp_count = 500 is out of range (0-100)", "garp_count too big");
        is_str(error_of("[announce]\ngarp_count=101\n"),
               "mlbd.conf:2:12: garp_count = 101 is out of range (0-100)",
               "garp_count 101, column without spaces");
        is_str(error_of("[announce]\ngarp_count = -1\n"),
               "mlbd.conf:2:14: garp_count = -1 is not a decimal integer (0-100)",
               "negative number");
        is_str(error_of("[announce]\ngarp_count = +3\n"),
               "mlbd.conf:2:14: garp_count = +3 is not a decimal integer (0-100)", "plus sign");
        is_str(error_of("[announce]\ngarp_count = 0x10\n"),
               "mlbd.conf:2:14: garp_count = 0x10 is not a decimal integer (0-100)", "hex");
        is_str(error_of("[announce]\ngarp_count = 3 packets\n"),
               "mlbd.conf:2:14: garp_count = 3 packets is not a decimal integer (0-100)",
               "trailing junk");
        is_str(error_of("[announce]\ngarp_count =\n"),
               "mlbd.conf:2:13: garp_count needs a value (0-100)", "empty integer");
        is_str(error_of("[announce]\ngarp_interval_ms = 0\n"),
               "mlbd.conf:2:20: garp_interval_ms = 0 is out of range (1-60000)",
               "garp_interval_ms 0");
        is_str(error_of("[announce]\ngarp_interval_ms = 60001\n"),
               "mlbd.conf:2:20: garp_interval_ms = 60001 is out of range (1-60000)",
               "garp_interval_ms too big");
        is_str(error_of("[announce]\ngarp_refresh_s = 86401\n"),
               "mlbd.conf:2:18: garp_refresh_s = 86401 is out of range (0-86400)",
               "garp_refresh_s too big");
        is_str(error_of("[announce]\ngarp_refresh_s = 99999999999999999999999\n"),
               "mlbd.conf:2:18: garp_refresh_s = 99999999999999999999999 is out of range "
               "(0-86400)",
               "huge number does not wrap");
        is_str(error_of("[announce]\ngarp_refresh_s = 4294967296\n"),
               "mlbd.conf:2:18: garp_refresh_s = 4294967296 is out of range (0-86400)",
               "2^32 does not wrap to 0");
        is_str(error_of("[cluster]\nheartbeat_interval_ms = 4\n"),
               "mlbd.conf:2:25: heartbeat_interval_ms = 4 is out of range (5-10000)",
               "heartbeat_interval_ms too small");
        is_str(error_of("[cluster]\nheartbeat_interval_ms = 10001\ndead_after_ms = 600000\n"),
               "mlbd.conf:2:25: heartbeat_interval_ms = 10001 is out of range (5-10000)",
               "heartbeat_interval_ms too big");
        is_str(error_of("[cluster]\ndead_after_ms = 600001\n"),
               "mlbd.conf:2:17: dead_after_ms = 600001 is out of range (1-600000)",
               "dead_after_ms too big");
        is_str(error_of("[cluster]\ndrain_ms = 60001\n"),
               "mlbd.conf:2:12: drain_ms = 60001 is out of range (0-60000)", "drain_ms too big");

        _cleanup_(conf_freep) Conf *c = NULL;
        is_int(parse("[announce]\ngarp_count = 007\n", &c), 0, "leading zeros are decimal");
        is_int(c ? c->garp_count : 0, 7, "007 is 7");
}

static void test_dead_after(void)
{
        is_str(error_of("[cluster]\nheartbeat_interval_ms = 100\ndead_after_ms = 199\n"),
               "mlbd.conf:3:17: dead_after_ms = 199 must be at least 2 x heartbeat_interval_ms "
               "(2 x 100 = 200)",
               "dead_after_ms below 2 x heartbeat names the dead_after_ms line");
        is_str(error_of("[cluster]\ndead_after_ms = 150\n\n\nheartbeat_interval_ms = 100\n"),
               "mlbd.conf:2:17: dead_after_ms = 150 must be at least 2 x heartbeat_interval_ms "
               "(2 x 100 = 200)",
               "checked at the end, whatever the order");
        is_str(error_of("[cluster]\nheartbeat_interval_ms = 300\n"),
               "mlbd.conf:2:25: heartbeat_interval_ms = 300 needs dead_after_ms of at least 600 "
               "(the default is 400); set dead_after_ms in [cluster]",
               "default dead_after_ms too small for the heartbeat");
        is_str(error_of("[cluster]\nheartbeat_interval_ms = 3\ndead_after_ms = 1\n"),
               "mlbd.conf:2:25: heartbeat_interval_ms = 3 is out of range (5-10000)",
               "no cross-check when a value is already wrong");

        _cleanup_(conf_freep) Conf *c = NULL;
        is_int(parse("[cluster]\nheartbeat_interval_ms = 1000\ndead_after_ms = 2000\n", &c), 0,
               "dead_after_ms = 2 x heartbeat is fine");
}

static void test_strings(void)
{
        is_str(error_of("[mlbd]\nnode_name = Node1\n"),
               "mlbd.conf:2:13: node_name \"Node1\" is not a valid node name: node names are "
               "lowercase",
               "uppercase node_name");
        is_str(error_of("[mlbd]\nnode_name = node_1\n"),
               "mlbd.conf:2:17: node_name \"node_1\" is not a valid node name: only lowercase "
               "letters, digits, '-' and '.' are allowed",
               "underscore in node_name, column of the bad character");
        is_str(error_of("[mlbd]\nnode_name = -node\n"),
               "mlbd.conf:2:13: node_name \"-node\" is not a valid node name: each "
               "dot-separated part must start and end with a letter or digit",
               "node_name starting with '-'");
        is_str(error_of("[mlbd]\nnode_name = a..b\n"),
               "mlbd.conf:2:14: node_name \"a..b\" is not a valid node name: each "
               "dot-separated part must start and end with a letter or digit",
               "node_name with an empty label");
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[mlbd]\nnode_name =\n", &c), 0, "empty node_name: default");
                ok(c && c->node_name && *c->node_name, "empty node_name: host name used");
        }
        {
                char name[254];
                _cleanup_free_ char *text = NULL;
                memset(name, 'a', sizeof(name) - 1);
                name[253] = 0;
                for (size_t i = 63; i < 253; i += 64)
                        name[i] = '.';
                ok(node_name_invalid(name, NULL) == NULL, "253-character node name is valid");
                ok(node_name_invalid("a", NULL) == NULL, "1-character node name is valid");
                ok(node_name_invalid("", NULL) != NULL, "empty node name is invalid");
                char longer[300];
                memset(longer, 'a', 254);
                longer[254] = 0;
                ok(node_name_invalid(longer, NULL) != NULL, "254 characters are too many");
        }

        is_str(error_of("[mlbd]\nadmin_group = 1mlbd\n"),
               "mlbd.conf:2:15: admin_group \"1mlbd\" is not a valid group name: it must start "
               "with a letter or '_'",
               "admin_group: checked like socket_group");
        is_str(error_of("[mlbd]\nsocket_group = 1mlbd\n"),
               "mlbd.conf:2:16: socket_group \"1mlbd\" is not a valid group name: it must start "
               "with a letter or '_'",
               "group starting with a digit");
        is_str(error_of("[mlbd]\nsocket_group = ml bd\n"),
               "mlbd.conf:2:18: socket_group \"ml bd\" is not a valid group name: only letters, "
               "digits, '_', '-' and '.' are allowed",
               "group with a space");
        is_str(error_of("[mlbd]\nsocket_group = abcdefghijklmnopqrstuvwxyz0123456\n"),
               "mlbd.conf:2:16: socket_group \"abcdefghijklmnopqrstuvwxyz0123456\" is too long "
               "(33 characters, at most 32)",
               "group name too long");
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[mlbd]\nsocket_group = nosuchgroup-xyz\n", &c), 0,
                       "group existence is not checked by the parser");
        }
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[mlbd]\nsocket_group =\n", &c), 0, "empty socket_group");
                ok(c && !c->socket_group, "empty socket_group: leave the group alone");
        }

        is_str(error_of("[announce]\ninterface = averyveryverylong0\n"),
               "mlbd.conf:2:13: interface \"averyveryverylong0\" is too long (18 characters, at "
               "most 15)",
               "interface too long");
        is_str(error_of("[announce]\ninterface = eth0:1\n"),
               "mlbd.conf:2:17: interface \"eth0:1\" is not a valid interface name: '/', ':', "
               "spaces and control characters are not allowed",
               "interface alias with ':'");
        is_str(error_of("[announce]\ninterface = ..\n"),
               "mlbd.conf:2:13: interface \"..\" is not a valid interface name", "interface ..");
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[announce]\ninterface = abcdefghijklmno\n", &c), 0,
                       "15-character interface name");
        }

        is_str(error_of("[mlbd]\npools =\n"), "mlbd.conf:2:8: pools needs a path", "empty pools");
        is_str(error_of("[mlbd]\npools_dir =\n"), "mlbd.conf:2:12: pools_dir needs a path",
               "empty pools_dir");
        is_str(error_of("[mlbd]\nstate_dir = a\tb\n"),
               "mlbd.conf:2:14: state_dir contains a control character", "tab in a path");
        is_str(error_of("[cluster]\nkey_file =\n"), "mlbd.conf:2:11: key_file needs a path",
               "empty key_file");
}

static void test_paths(void)
{
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse_as("/etc/mlbd-test/mlbd.conf",
                                "[mlbd]\npools = pools.yaml\nsocket = run/s.sock\n"
                                "state_dir = ../state\n[cluster]\nkey_file = keys/k\n",
                                &c),
                       0, "relative paths parse");
                if (c) {
                        is_str(c->pools, "/etc/mlbd-test/pools.yaml",
                               "pools relative to the conf file's directory");
                        is_str(c->socket, "/etc/mlbd-test/run/s.sock", "socket relative");
                        is_str(c->state_dir, "/etc/mlbd-test/../state", "state_dir relative");
                        is_str(c->key_file, "/etc/mlbd-test/keys/k", "key_file relative");
                }
        }
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse_as("/mlbd.conf", "[mlbd]\npools = p.yaml\n", &c), 0, "conf file in /");
                is_str(c ? c->pools : NULL, "/p.yaml", "relative to /");
        }
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse_as("mlbd.conf", "[mlbd]\npools = p.yaml\n", &c), 0,
                       "conf file in the working directory");
                is_str(c ? c->pools : NULL, "p.yaml", "stays relative to the working directory");
        }
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse_as("conf.d/mlbd.conf", "[mlbd]\npools = /abs/p.yaml\n", &c), 0,
                       "absolute path");
                is_str(c ? c->pools : NULL, "/abs/p.yaml", "absolute paths stay as they are");
        }

        /* 107 bytes is the most a unix socket path can hold. */
        char sock[200], text[300];
        memset(sock, 'x', sizeof(sock));
        memcpy(sock, "/run/", 5);
        sock[107] = 0;
        snprintf(text, sizeof(text), "[mlbd]\nsocket = %s\n", sock);
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse(text, &c), 0, "107-byte socket path");
        }
        sock[107] = 'x';
        sock[108] = 0;
        snprintf(text, sizeof(text), "[mlbd]\nsocket = %s\n", sock);
        _cleanup_free_ char *want = NULL;
        if (asprintf(&want,
                     "mlbd.conf:2:10: socket path \"%s\" is too long for a unix socket (108 "
                     "bytes, at most 107)",
                     sock) < 0)
                abort();
        is_str(error_of(text), want, "108-byte socket path");

        /* A short relative path becomes too long once resolved. */
        char dir[120];
        memset(dir, 'd', sizeof(dir));
        dir[0] = '/';
        dir[99] = 0;
        snprintf(text, sizeof(text), "%s/mlbd.conf", dir);
        ok(parse_as(text, "[mlbd]\nsocket = mlbd.sock\n", NULL) == -EINVAL,
           "socket length checked after resolving the relative path");
        ok(strstr(messages, "is too long for a unix socket (109 bytes, at most 107)") != NULL,
           "message gives the resolved length");
}

static void test_listen(void)
{
        char buf[HOSTPORT_STR_MAX];
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[cluster]\nlisten = [::]:7947\npeers = a=2001:db8::1, b=192.0.2.1\n",
                             &c),
                       0, "IPv6 any listen, peers of both families");
                if (c) {
                        ok(c->cluster_listen.set && c->cluster_listen.addr == 0 &&
                               c->cluster_listen.port == 7947,
                           "[::]:7947 -> :: port 7947");
                        is_str(hostport_format(&c->cluster_listen, buf, sizeof(buf)), "[::]:7947",
                               "formats as [::]:7947");
                }
        }
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[metrics]\nlisten =\n", &c), 0, "empty metrics listen");
                ok(c && !c->metrics_listen.set, "empty metrics listen: off");
                is_str(c ? hostport_format(&c->metrics_listen, buf, sizeof(buf)) : NULL, "",
                       "unset formats as empty");
        }
        is_str(error_of("[cluster]\nlisten =\n"),
               "mlbd.conf:2:9: listen in [cluster] needs an address, e.g. 0.0.0.0:7947 or "
               "[::]:7947",
               "empty cluster listen");
        is_str(error_of("[cluster]\nlisten = ::1:7947\n"),
               "mlbd.conf:2:10: listen = ::1:7947 is not a valid ADDRESS:PORT: an IPv6 address "
               "must be written in brackets, e.g. [::]:7947",
               "IPv6 without brackets");
        is_str(error_of("[cluster]\nlisten = 0.0.0.0\n"),
               "mlbd.conf:2:10: listen = 0.0.0.0 is not a valid ADDRESS:PORT: missing \":PORT\"",
               "missing port");
        is_str(error_of("[cluster]\nlisten = 0.0.0.0:0\n"),
               "mlbd.conf:2:18: listen = 0.0.0.0:0 is not a valid ADDRESS:PORT: the port is out "
               "of range (1-65535)",
               "port 0, column of the port");
        is_str(error_of("[metrics]\nlisten = 0.0.0.0:65536\n"),
               "mlbd.conf:2:18: listen = 0.0.0.0:65536 is not a valid ADDRESS:PORT: the port is "
               "out of range (1-65535)",
               "port 65536");
        is_str(error_of("[metrics]\nlisten = localhost:80\n"),
               "mlbd.conf:2:10: listen = localhost:80 is not a valid ADDRESS:PORT: the host is "
               "not an IP address (names are not resolved)",
               "host name");
        is_str(error_of("[metrics]\nlisten = [192.0.2.1]:80\n"),
               "mlbd.conf:2:11: listen = [192.0.2.1]:80 is not a valid ADDRESS:PORT: brackets "
               "are only for IPv6 addresses",
               "IPv4 in brackets");
        is_str(error_of("[metrics]\nlisten = [::1:80\n"),
               "mlbd.conf:2:10: listen = [::1:80 is not a valid ADDRESS:PORT: '[' without a "
               "closing ']'",
               "missing ']'");
        is_str(error_of("[metrics]\nlisten = 0.0.0.0:http\n"),
               "mlbd.conf:2:18: listen = 0.0.0.0:http is not a valid ADDRESS:PORT: the port is "
               "not a decimal number",
               "service name as port");

        /* hostport_parse / hostport_format directly */
        static const char *const good[] = {"0.0.0.0:7947", "[::]:7947", "[2001:db8::1]:1",
                                           "198.51.100.7:65535"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                HostPort hp = {0};
                ok(hostport_parse(good[i], &hp) && hp.set, "hostport_parse(\"%s\")", good[i]);
                is_str(hostport_format(&hp, buf, sizeof(buf)), good[i], "round trip %s", good[i]);
        }
        static const char *const bad[] = {"0.0.0.0:",
                                          ":80",
                                          "[::]",
                                          "[::]80",
                                          "1.2.3.4:8x",
                                          " 1.2.3.4:80",
                                          "[::ffff:192.0.2.1]:80",
                                          "1.2.3.4:080000",
                                          "[fe80::1%eth0]:80"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                HostPort hp = {.set = true, .port = 42};
                ok(!hostport_parse(bad[i], &hp) && hp.port == 42,
                   "hostport_parse refuses \"%s\" and leaves *ret alone", bad[i]);
        }
        HostPort hp;
        ok(hostport_parse("", &hp) && !hp.set, "empty string: not set");
        ok(hostport_parse("[2001:db8::1]:80", &hp), "v6 for small buffer test");
        ok(hostport_format(&hp, buf, 5) == NULL, "hostport_format: too small buffer -> NULL");
}

static void test_peers(void)
{
        char a[ADDR_STR_MAX];
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[cluster]\n"
                             "listen = [::]:7947\n"
                             "peers = node1=192.0.2.1,node2 = 192.0.2.2 ,\n"
                             "        node3=2001:db8::3,\n"
                             "\n"
                             "  ; a comment between continuation lines\n"
                             "        node4=198.51.100.4\n"
                             "heartbeat_interval_ms = 100\n",
                             &c),
                       0, "peers over several lines");
                is_str(messages, "", "no diagnostics");
                is_int(c ? c->n_peers : 0, 4, "four peers");
                if (c && c->n_peers == 4) {
                        is_str(c->peers[0].name, "node1", "peer 1 name");
                        is_str(addr_format(c->peers[0].addr, a), "192.0.2.1", "peer 1 address");
                        is_str(c->peers[1].name, "node2", "spaces around '=' and ','");
                        is_str(addr_format(c->peers[1].addr, a), "192.0.2.2", "peer 2 address");
                        is_str(c->peers[2].name, "node3", "continuation line");
                        is_str(addr_format(c->peers[2].addr, a), "2001:db8::3", "IPv6 peer");
                        is_str(c->peers[3].name, "node4", "after blank and comment lines");
                }
        }
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[cluster]\npeers =\n", &c), 0, "empty peers");
                is_int(c ? c->n_peers : 1, 0, "empty peers: none");
        }
        is_str(error_of("[cluster]\npeers = a=192.0.2.1, a=192.0.2.2\n"),
               "mlbd.conf:2:22: peer \"a\" is listed twice (first at line 2, column 9)",
               "duplicate peer name");
        is_str(error_of("[cluster]\nlisten = [::]:1\npeers = a=2001:db8::1,\n  b=2001:DB8:0::1\n"),
               "mlbd.conf:4:5: peers \"b\" and \"a\" have the same address 2001:db8::1 (\"a\" "
               "at line 3, column 9)",
               "duplicate address in another spelling, on a continuation line");
        is_str(error_of("[cluster]\npeers = a=192.0.2.300\n"),
               "mlbd.conf:2:11: address \"192.0.2.300\" of peer \"a\" is not an IP address",
               "bad peer address");
        is_str(error_of("[cluster]\npeers = a=192.0.2.1, 192.0.2.2\n"),
               "mlbd.conf:2:22: peers entry \"192.0.2.2\" is not NAME=ADDRESS", "entry without =");
        is_str(error_of("[cluster]\npeers = a=192.0.2.1,, b=192.0.2.2\n"),
               "mlbd.conf:2:21: peers has an empty entry (two commas in a row?)", "empty entry");
        is_str(error_of("[cluster]\npeers = a=\n"), "mlbd.conf:2:11: peer \"a\" has no address",
               "peer without address");
        is_str(error_of("[cluster]\npeers = A_1=192.0.2.1\n"),
               "mlbd.conf:2:9: peer name \"A_1\" is not a valid node name: node names are "
               "lowercase",
               "bad peer name");
        is_str(error_of("[cluster]\npeers = =192.0.2.1\n"),
               "mlbd.conf:2:9: peer name \"\" is not a valid node name: it is empty",
               "peer without a name");
        is_str(error_of("[cluster]\npeers = a=192.0.2.1, b=2001:db8::2\n"),
               "mlbd.conf:2:22: peer \"b\" has an IPv6 address, which [cluster] listen = "
               "0.0.0.0:7947 cannot reach; listen on [::] to reach both families",
               "IPv6 peer with an IPv4 listen address");
        is_str(error_of("[cluster]\nlisten = [2001:db8::9]:7947\npeers = a=192.0.2.1\n"),
               "mlbd.conf:3:9: peer \"a\" has an IPv4 address, which [cluster] listen = "
               "[2001:db8::9]:7947 cannot reach",
               "IPv4 peer with a specific IPv6 listen address");
        is_str(error_of("[cluster]\npeers = a=192.0.2.1, a=192.0.2.1, x\n"),
               "mlbd.conf:2:22: peer \"a\" is listed twice (first at line 2, column 9)\n"
               "mlbd.conf:2:35: peers entry \"x\" is not NAME=ADDRESS",
               "every bad entry is reported");
}

static void test_unknown(void)
{
        is_str(error_of("[announce]\ngarp_cnt = 3\n"),
               "mlbd.conf:2:1: unknown key \"garp_cnt\" in section [announce]; did you mean "
               "garp_count?",
               "unknown key with a suggestion");
        is_str(error_of("[mlbd]\nfoo = 3\n"),
               "mlbd.conf:2:1: unknown key \"foo\" in section [mlbd]",
               "unknown key, nothing close");
        is_str(error_of("[mlbd]\n  Log_Level = info\n"),
               "mlbd.conf:2:3: unknown key \"Log_Level\" in section [mlbd]; did you mean "
               "log_level?",
               "keys are case-sensitive; column of an indented key");
        is_str(error_of("[mlbd]\ninterface = eth0\n"),
               "mlbd.conf:2:1: unknown key \"interface\" in section [mlbd]; it belongs in "
               "[announce]",
               "key in the wrong section");
        is_str(error_of("[mlbd]\nlisten = 0.0.0.0:1\n"),
               "mlbd.conf:2:1: unknown key \"listen\" in section [mlbd]; it belongs in "
               "[cluster] or [metrics]",
               "key of two other sections");
        is_str(error_of("pools = /x\n[mlbd]\n"),
               "mlbd.conf:1:1: key \"pools\" is outside any section; it belongs in [mlbd]",
               "key before any section");
        is_str(error_of("[mlbd]\n[anounce]\n[metrics]\n"),
               "mlbd.conf:2:1: unknown section [anounce]; did you mean [announce]?",
               "unknown empty section is an error");
        is_str(error_of("[kubernetes]\nfoo = 1\nbar = 2\n"),
               "mlbd.conf:1:1: unknown section [kubernetes]; known sections are [mlbd], "
               "[announce], [cluster] and [metrics]",
               "keys inside an unknown section are not reported again");
        is_str(error_of("[announce]\ngarp_count = 1\ngarp_count = 2\n"),
               "mlbd.conf:3:1: duplicate key \"garp_count\" in section [announce] (first set on "
               "line 2)",
               "duplicate key");
        is_str(error_of("[announce]\ngarp_count = 1\n[announce]\ngarp_count = 1\n"),
               "mlbd.conf:4:1: duplicate key \"garp_count\" in section [announce] (first set on "
               "line 2)",
               "duplicate key across a repeated section");
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse("[cluster]\nlisten = 0.0.0.0:1\n[metrics]\nlisten = 0.0.0.0:2\n", &c),
                       0, "the same key name in two sections is no duplicate");
        }
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse(" [ mlbd ]  ; comment\n# comment\nlog_level = err ; why\n", &c), 0,
                       "spaces in the header, comments");
                is_int(c ? c->log_level : 0, LOG_ERR, "value read");
        }
}

static void test_syntax(void)
{
        is_str(error_of("[mlbd]\nthis is not a key\n"),
               "mlbd.conf:2:1: syntax error: expected \"KEY = VALUE\", \"[SECTION]\" or a comment",
               "line without '='");
        is_str(error_of("[mlbd\n"),
               "mlbd.conf:1:1: syntax error: section header without a closing ']'",
               "unclosed section header");
        is_str(error_of("[mlbd] junk\n"),
               "mlbd.conf:1:8: syntax error: unexpected text after section header",
               "text after a header");
        is_str(error_of("[mlbd] junk\nbad line\n"),
               "mlbd.conf:1:8: syntax error: unexpected text after section header\n"
               "mlbd.conf:2:1: syntax error: expected \"KEY = VALUE\", \"[SECTION]\" or a comment",
               "inih's first syntax error is not reported twice");
        is_str(error_of("[mlbd]\n = x\n"),
               "mlbd.conf:2:2: syntax error: missing key name before '='", "missing key name");
        is_str(error_of("[mlbd]\nlog_level = info\n  state_dir = /x\n"),
               "mlbd.conf:3:3: indented line is read as a continuation of \"log_level\" (line "
               "2); remove the leading whitespace (only peers may span several lines)",
               "indented key after a key");
        is_str(error_of("[cluster]\npeers = a=192.0.2.1\n  [metrics]\nlisten = 1.2.3.4:5\n"),
               "mlbd.conf:3:3: indented line is read as a continuation of \"peers\" (line 2); "
               "remove the leading whitespace (only peers may span several lines)",
               "indented section header after peers is taken as the header");
        is_str(error_of("[a\n[mlbd]\nb\n[c\nd = 1\n"),
               "mlbd.conf:1:1: syntax error: section header without a closing ']'\n"
               "mlbd.conf:3:1: syntax error: expected \"KEY = VALUE\", \"[SECTION]\" or a "
               "comment\n"
               "mlbd.conf:4:1: syntax error: section header without a closing ']'",
               "every syntax error reported, keys after a broken header ignored");
}

static void test_five_errors(void)
{
        const char *text = "[mlbd]\n"
                           "log_level = chatty\n"
                           "bogus\n"
                           "[announce]\n"
                           "garp_count = 500\n"
                           "garp_cnt = 3\n"
                           "[cluster]\n"
                           "listen = 0.0.0.0:99999\n";

        is_int(parse(text, NULL), -EINVAL, "five errors: -EINVAL");
        is_str(messages,
               "mlbd.conf:2:13: log_level = \"chatty\" is not one of debug, info, notice, "
               "warning, err\n"
               "mlbd.conf:3:1: syntax error: expected \"KEY = VALUE\", \"[SECTION]\" or a "
               "comment\n"
               "mlbd.conf:5:14: garp_count = 500 is out of range (0-100)\n"
               "mlbd.conf:6:1: unknown key \"garp_cnt\" in section [announce]; did you mean "
               "garp_count?\n"
               "mlbd.conf:8:18: listen = 0.0.0.0:99999 is not a valid ADDRESS:PORT: the port is "
               "out of range (1-65535)",
               "five different errors give five lines in file order");
}

static void test_lines(void)
{
        /* inih's buffer is 200 bytes, which holds 197 characters and "\r\n\0". */
        char text[512], val[256];

        memset(val, 'a', sizeof(val));
        val[197 - 12] = 0; /* "node_name = " is 12 */
        snprintf(text, sizeof(text), "[mlbd]\nnode_name = %s\n", val);
        {
                _cleanup_(conf_freep) Conf *c = NULL;
                is_int(parse(text, &c), 0, "197-character line is fine");
                is_int(c ? strlen(c->node_name) : 0, 185, "and read whole");
        }
        val[197 - 12] = 'a';
        val[198 - 12] = 0;
        snprintf(text, sizeof(text), "[mlbd]\nnode_name = %s\r\n[announce]\ngarp_count = 1000\n",
                 val);
        is_str(error_of(text),
               "mlbd.conf:2:1: line is too long (198 characters, at most 197)\n"
               "mlbd.conf:4:14: garp_count = 1000 is out of range (0-100)",
               "198-character line is an error, not cut; line numbers stay right");

        memset(val, 'x', 250);
        val[250] = 0;
        snprintf(text, sizeof(text), "[mlbd]\n[%s]\nfoo = 1\n[cluster]\nbar = 2\n", val);
        is_str(error_of(text),
               "mlbd.conf:2:1: line is too long (252 characters, at most 197)\n"
               "mlbd.conf:5:1: unknown key \"bar\" in section [cluster]",
               "keys under an over-long header are not blamed on the section before");

        const char nul[] = "[mlbd]\nlog_level = in\0fo\n";
        DiagList d = {0};
        Conf *c = NULL;
        is_int(conf_parse("mlbd.conf", nul, sizeof(nul) - 1, &c, &d), -EINVAL, "NUL byte");
        set_messages(&d);
        is_str(messages, "mlbd.conf:2:15: line contains a NUL byte", "NUL byte reported");
        diag_list_clear(&d);

        is_str(error_of("[mlbd]\nnode_name = node1 \x1b[31m\n[announce]\ngarp_count = 101\n"),
               "mlbd.conf:2:19: line contains a control character (0x1b)\n"
               "mlbd.conf:4:14: garp_count = 101 is out of range (0-100)",
               "control characters are refused, never printed");
        is_str(error_of("[ml\x7f]\ngarp_count = 1\n"),
               "mlbd.conf:1:4: line contains a control character (0x7f)",
               "DEL in a header; its keys are ignored");
        is_str(error_of("[mlbd]\nnode_name = a\rb\r\n"),
               "mlbd.conf:2:14: line contains a control character (0x0d)",
               "CR inside a line (only a CR before the newline is a line end)");
        {
                _cleanup_(conf_freep) Conf *k = NULL;
                is_int(parse("[announce]\n\tgarp_count\t=\t4\t\n", &k), 0, "tabs are whitespace");
                is_int(k ? k->garp_count : 0, 4, "value read with tabs around");
        }
        {
                _cleanup_(conf_freep) Conf *k = NULL;
                is_int(parse("\xEF\xBB\xBF[announce]\r\ngarp_count = 9\r\n", &k), 0,
                       "UTF-8 BOM and CRLF line ends");
                is_int(k ? k->garp_count : 0, 9, "value read with CRLF");
        }
        is_str(error_of("\xEF\xBB\xBF[announce]\ngarp_count = 900"),
               "mlbd.conf:2:14: garp_count = 900 is out of range (0-100)",
               "last line without newline");
        is_str(error_of("\xEF\xBB\xBF\xEF\xBB\xBF[mlbd]\nfoo\n"),
               "mlbd.conf:1:1: syntax error: expected \"KEY = VALUE\", \"[SECTION]\" or a comment\n"
               "mlbd.conf:2:1: syntax error: expected \"KEY = VALUE\", \"[SECTION]\" or a comment",
               "only one BOM is skipped, as inih does (fuzz finding)");
        is_str(error_of("\xEF\xBB\xBFgarp = 1\n"),
               "mlbd.conf:1:1: key \"garp\" is outside any section",
               "columns on the first line do not count a BOM");
}

int main(void)
{
        test_defaults();
        test_spec_example();
        test_load_errors();
        test_all_keys_good();
        test_log_levels();
        test_integers();
        test_booleans();
        test_dead_after();
        test_strings();
        test_paths();
        test_listen();
        test_peers();
        test_unknown();
        test_syntax();
        test_five_errors();
        test_lines();
        free(messages);
        return tap_done();
}
