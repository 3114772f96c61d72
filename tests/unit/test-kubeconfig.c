/* SPDX-License-Identifier: MIT */
/*
 * kubeconfig: a file as kubectl writes it (embedded certificates, two contexts), one with
 * relative paths and a tokenFile, context selection, server URL checks, every error with
 * its exact FILE:LINE:COLUMN text, and the in-cluster configuration built from a
 * temporary root with IPv4 and IPv6 service addresses. Files live in tests/data/kubeconfig/.
 */
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

#include "kubeconfig.h"
#include "util/fileio.h"
#include "tap.h"

static const char *srcdir(void)
{
        const char *s = getenv("top_srcdir");
        return s && *s ? s : ".";
}

static char *data_path(const char *name)
{
        char *s = NULL;
        if (asprintf(&s, "%s/tests/data/kubeconfig/%s", srcdir(), name) < 0)
                abort();
        return s;
}

static char *slurp(const char *path)
{
        char *buf = NULL;
        if (read_full_file(path, &buf, NULL) < 0)
                return strdup("(unreadable)");
        return buf;
}

/* All diagnostics, formatted, joined by "\n". */
static char *diags_text(const DiagList *d)
{
        char *out = strdup("");
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *s = diag_format(&d->items[i]);
                char *n = NULL;
                if (asprintf(&n, "%s%s%s", out, *out ? "\n" : "", s) < 0)
                        abort();
                free(out);
                out = n;
        }
        return out;
}

static KubeConfig *parse(const char *text, const char *context, DiagList *d, int *ret)
{
        KubeConfig *c = NULL;
        *ret = kubeconfig_parse(text, strlen(text), "t.yaml", context, &c, d);
        return c;
}

/* Parses text that must fail with exactly `want` (all diagnostics, in order). */
static void check_errors_ctx(const char *name, const char *text, const char *context,
                             const char *want)
{
        DiagList d = {0};
        int r;
        KubeConfig *c = parse(text, context, &d, &r);
        is_int(r, -EINVAL, "%s: refused", name);
        ok(c == NULL, "%s: no config", name);
        _cleanup_free_ char *got = diags_text(&d);
        is_str(got, want, "%s: diagnostics", name);
        kubeconfig_free(c);
        diag_list_clear(&d);
}

static void check_errors(const char *name, const char *text, const char *want)
{
        check_errors_ctx(name, text, NULL, want);
}

/* base64 of a PEM block, as kubectl embeds it */
static char *b64(const char *s)
{
        size_t n = sodium_base64_ENCODED_LEN(strlen(s), sodium_base64_VARIANT_ORIGINAL);
        char *out = malloc(n);
        if (!out)
                abort();
        sodium_bin2base64(out, n, (const unsigned char *)s, strlen(s),
                          sodium_base64_VARIANT_ORIGINAL);
        return out;
}

#define PEM "-----BEGIN CERTIFICATE-----\nMIIBfjCCASWgAwIBAgIU\n-----END CERTIFICATE-----\n"

/* A small valid kubeconfig; errors are made by changing one line of it. */
#define HEAD                                                                                       \
        "apiVersion: v1\n"                                                                         \
        "kind: Config\n"
#define CLUSTER_C1                                                                                 \
        "clusters:\n"                                                                              \
        "- name: c1\n"                                                                             \
        "  cluster:\n"                                                                             \
        "    server: https://k8s.example:6443\n"
#define USER_U1                                                                                    \
        "users:\n"                                                                                 \
        "- name: u1\n"                                                                             \
        "  user:\n"                                                                                \
        "    token: t0ken\n"
#define CONTEXT_X1                                                                                 \
        "contexts:\n"                                                                              \
        "- name: x1\n"                                                                             \
        "  context:\n"                                                                             \
        "    cluster: c1\n"                                                                        \
        "    user: u1\n"
#define CURRENT_X1 "current-context: x1\n"

static void test_kubectl_file(void)
{
        _cleanup_free_ char *path = data_path("kubectl.yaml");
        _cleanup_free_ char *ca_path = data_path("ca.crt"), *cert_path = data_path("client.crt");
        _cleanup_free_ char *key_path = data_path("client.key");
        _cleanup_free_ char *ca = slurp(ca_path), *cert = slurp(cert_path), *key = slurp(key_path);
        _cleanup_(kubeconfig_freep) KubeConfig *c = NULL;
        _cleanup_(kubeconfig_token_freep) char *tok = NULL;
        DiagList d = {0};

        is_int(kubeconfig_load(path, NULL, &c, &d), 0, "kubectl.yaml: accepted");
        is_int(d.n, 0, "kubectl.yaml: no diagnostics");
        if (!c)
                return;
        is_str(c->file, path, "kubectl: file");
        is_str(c->context, "kubernetes-admin@kubernetes", "kubectl: current-context used");
        is_str(c->cluster, "kubernetes", "kubectl: cluster");
        is_str(c->user, "kubernetes-admin", "kubectl: user");
        is_str(c->server, "https://10.0.0.10:6443", "kubectl: server");
        ok(c->ca.path == NULL, "kubectl: CA not a path");
        ok(c->ca.data && c->ca.len == strlen(ca) && memcmp(c->ca.data, ca, c->ca.len) == 0,
           "kubectl: CA decoded to the PEM file's bytes");
        ok(c->ca.data && c->ca.data[c->ca.len] == 0, "kubectl: CA NUL-terminated");
        ok(c->client_cert.data && c->client_cert.len == strlen(cert) &&
               memcmp(c->client_cert.data, cert, strlen(cert)) == 0,
           "kubectl: client certificate decoded");
        ok(c->client_key.data && c->client_key.len == strlen(key) &&
               memcmp(c->client_key.data, key, strlen(key)) == 0,
           "kubectl: client key decoded");
        ok(!c->client_cert.path && !c->client_key.path, "kubectl: no cert/key paths");
        ok(!c->token && !c->token_file, "kubectl: no token");
        ok(!c->insecure_skip_tls_verify, "kubectl: verifies TLS");
        ok(!c->tls_server_name, "kubectl: no tls-server-name");
        is_str(c->namespace, "default", "kubectl: namespace defaults to default");
        is_int(kubeconfig_read_token(c, &tok), 0, "kubectl: read_token says no token");
        ok(tok == NULL, "kubectl: no token returned");
        c = kubeconfig_free(c);

        /* the other context: IPv6 server, insecure, inline token, a namespace */
        is_int(kubeconfig_load(path, "staging", &c, &d), 0, "staging context: accepted");
        if (!c)
                return;
        is_str(c->context, "staging", "staging: context");
        is_str(c->server, "https://[2001:db8::10]:6443", "staging: server without trailing /");
        ok(c->insecure_skip_tls_verify, "staging: insecure-skip-tls-verify");
        ok(!c->ca.path && !c->ca.data, "staging: no CA");
        ok(!c->client_cert.data && !c->client_key.data, "staging: no client certificate");
        is_str(c->token, "abc.def-ghi", "staging: token");
        is_str(c->namespace, "mlbd-system", "staging: namespace");
        is_int(kubeconfig_read_token(c, &tok), 1, "staging: read_token");
        is_str(tok, "abc.def-ghi", "staging: the inline token");
        diag_list_clear(&d);

        /* a context the caller chose that is not there */
        KubeConfig *none = NULL;
        is_int(kubeconfig_load(path, "prod", &none, &d), -EINVAL, "unknown chosen context");
        ok(none == NULL, "unknown chosen context: no config");
        _cleanup_free_ char *want = NULL, *got = diags_text(&d);
        if (asprintf(&want, "%s: no context named \"prod\"", path) < 0)
                abort();
        is_str(got, want, "unknown chosen context: message");
        diag_list_clear(&d);
}

static void test_paths(void)
{
        _cleanup_free_ char *path = data_path("paths.yaml");
        _cleanup_free_ char *ca = data_path("ca.crt"), *cert = data_path("client.crt");
        _cleanup_free_ char *token = data_path("token");
        _cleanup_(kubeconfig_freep) KubeConfig *c = NULL;
        _cleanup_(kubeconfig_token_freep) char *tok = NULL;
        DiagList d = {0};

        is_int(kubeconfig_load(path, NULL, &c, &d), 0, "paths.yaml: accepted");
        is_int(d.n, 0, "paths.yaml: no diagnostics");
        if (!c)
                return;
        is_str(c->server, "https://lab.example.net:6443", "paths: server");
        is_str(c->ca.path, ca, "paths: CA resolved against the file's directory");
        ok(!c->ca.data, "paths: no CA data");
        is_str(c->tls_server_name, "api.lab.example.net", "paths: tls-server-name");
        is_str(c->client_cert.path, cert, "paths: client certificate resolved");
        is_str(c->client_key.path, "/etc/mlbd/client.key", "paths: absolute key path kept");
        is_str(c->token_file, token, "paths: tokenFile resolved");
        ok(!c->token, "paths: no inline token");
        is_str(c->namespace, "kube-system", "paths: namespace");
        is_int(kubeconfig_read_token(c, &tok), 1, "paths: token read from the file");
        is_str(tok, "tok-from-file", "paths: token trimmed of whitespace and newlines");
}

static void test_resolve(void)
{
        static const char text[] = CLUSTER_C1 "    certificate-authority: pki/ca.crt\n" USER_U1
                                              "    tokenFile: ../tok\n" CONTEXT_X1 CURRENT_X1;
        static const struct {
                const char *file, *ca, *tok;
        } cases[] = {
            {NULL, "pki/ca.crt", "../tok"},
            {"kubeconfig", "pki/ca.crt", "../tok"},
            {"/kubeconfig", "/pki/ca.crt", "/../tok"},
            {"/etc/mlbd/kubeconfig", "/etc/mlbd/pki/ca.crt", "/etc/mlbd/../tok"},
            {"conf/kc", "conf/pki/ca.crt", "conf/../tok"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                DiagList d = {0};
                KubeConfig *c = NULL;
                is_int(kubeconfig_parse(text, strlen(text), cases[i].file, NULL, &c, &d), 0,
                       "resolve %s: accepted", cases[i].file ? cases[i].file : "(null)");
                is_str(c ? c->ca.path : NULL, cases[i].ca, "resolve %s: CA",
                       cases[i].file ? cases[i].file : "(null)");
                is_str(c ? c->token_file : NULL, cases[i].tok, "resolve %s: tokenFile",
                       cases[i].file ? cases[i].file : "(null)");
                kubeconfig_free(c);
                diag_list_clear(&d);
        }
}

static void test_token(void)
{
        char dir[] = "/tmp/mlbd-test-kubeconfig-XXXXXX";
        char path[256];
        KubeConfig c = {.token = (char *)"inline"};
        char *tok = NULL;

        if (!mkdtemp(dir))
                abort();
        snprintf(path, sizeof(path), "%s/token", dir);

        /* tokenFile wins over token, as in client-go */
        c.token_file = path;
        is_int(kubeconfig_read_token(&c, &tok), -ENOENT, "token file missing: -ENOENT");
        ok(tok == NULL, "token file missing: nothing returned");
        static const struct {
                const char *content;
                int r;
                const char *want;
        } cases[] = {
            {"eyJhbGciOiJSUzI1NiJ9.e30.sig\n", 1, "eyJhbGciOiJSUzI1NiJ9.e30.sig"},
            {"  spaced \r\n\n", 1, "spaced"},
            {"", -ENODATA, NULL},
            {" \n\t\n", -ENODATA, NULL},
            {"two\nlines\n", -EBADMSG, NULL},
            {"tab\tinside", -EBADMSG, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (write_file_atomic(path, cases[i].content, strlen(cases[i].content), 0600) < 0)
                        abort();
                tok = NULL;
                is_int(kubeconfig_read_token(&c, &tok), cases[i].r, "token file %zu: result", i);
                is_str(tok, cases[i].want, "token file %zu: token", i);
                kubeconfig_token_free(tok);
        }
        char *big = malloc(KUBECONFIG_TOKEN_MAX + 2);
        memset(big, 'a', KUBECONFIG_TOKEN_MAX + 1);
        if (write_file_atomic(path, big, KUBECONFIG_TOKEN_MAX + 1, 0600) < 0)
                abort();
        free(big);
        tok = NULL;
        is_int(kubeconfig_read_token(&c, &tok), -EFBIG, "token file too large: -EFBIG");

        /* token and tokenFile in one user: the file is what is read */
        static const char both[] =
            CLUSTER_C1 USER_U1 "    tokenFile: /run/tok\n" CONTEXT_X1 CURRENT_X1;
        DiagList d = {0};
        KubeConfig *k = NULL;
        is_int(kubeconfig_parse(both, strlen(both), "t.yaml", NULL, &k, &d), 0,
               "token and tokenFile: accepted");
        is_str(k ? k->token : NULL, "t0ken", "token and tokenFile: token kept");
        is_str(k ? k->token_file : NULL, "/run/tok", "token and tokenFile: tokenFile kept");
        kubeconfig_free(k);
        diag_list_clear(&d);

        unlink(path);
        rmdir(dir);
}

static void test_servers(void)
{
        static const struct {
                const char *server, *want;
        } good[] = {
            {"https://k8s.example:6443", "https://k8s.example:6443"},
            {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
            {"HTTPS://K8S.example", "https://K8S.example"},
            {"https://[::1]", "https://[::1]"},
            {"https://[fd00::1]:443/", "https://[fd00::1]:443"},
            {"https://rancher.example/k8s/clusters/c-m-1//",
             "https://rancher.example/k8s/clusters/c-m-1"},
        };
        static const struct {
                const char *server, *why;
        } bad[] = {
            {"k8s.example:6443", "expected an https:// or http:// URL"},
            {"ftp://k8s.example", "expected an https:// or http:// URL"},
            {"https://", "no host"},
            {"https:///api", "no host"},
            {"https://admin@k8s.example", "user information (user@) is not supported"},
            {"https://2001:db8::1:6443", "an IPv6 address must be written in brackets"},
            {"https://[2001:db8::1:6443", "no ']' after the IPv6 address"},
            {"https://[2001:db8::zz]:6443", "not an IPv6 address in the brackets"},
            {"https://[::1]x", "unexpected text after ']'"},
            {"https://k8s.example:0", "the port must be a number from 1 to 65535"},
            {"https://k8s.example:65536", "the port must be a number from 1 to 65535"},
            {"'https://k8s.example:'", "the port must be a number from 1 to 65535"},
            {"https://k8s.example:64x3", "the port must be a number from 1 to 65535"},
            {"https://k8s_ex%61mple", "not a valid host name or address"},
            {"https://k8s.example/?watch=1", "a query or fragment is not allowed"},
            {"https://k8s.example#frag", "a query or fragment is not allowed"},
            {"'https://k8s .example'", "contains a space or control character"},
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_free_ char *text = NULL;
                DiagList d = {0};
                int r;
                if (asprintf(&text,
                             "clusters:\n- name: c1\n  cluster:\n    server: %s\n" USER_U1
                                 CONTEXT_X1 CURRENT_X1,
                             good[i].server) < 0)
                        abort();
                KubeConfig *c = parse(text, NULL, &d, &r);
                is_int(r, 0, "server %s: accepted", good[i].server);
                is_str(c ? c->server : NULL, good[i].want, "server %s: normalized", good[i].server);
                kubeconfig_free(c);
                diag_list_clear(&d);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = NULL, *want = NULL;
                const char *shown = bad[i].server;
                size_t n = strlen(shown);
                if (asprintf(&text,
                             "clusters:\n- name: c1\n  cluster:\n    server: %s\n" USER_U1
                                 CONTEXT_X1 CURRENT_X1,
                             shown) < 0)
                        abort();
                if (shown[0] == '\'') /* quoted in YAML */
                        n -= 2, shown++;
                if (asprintf(&want, "t.yaml:4:13: cluster \"c1\": server \"%.*s\": %s", (int)n,
                             shown, bad[i].why) < 0)
                        abort();
                check_errors(bad[i].server, text, want);
        }
}

static void test_selection(void)
{
        static const char text[] =
            HEAD CLUSTER_C1 "- name: c2\n"
                            "  cluster:\n"
                            "    server: https://c2.example\n"
                            "    exec-is-not-a-cluster-key: 1\n" USER_U1 "- name: u2\n"
                            "  user:\n"
                            "    exec:\n"
                            "      command: aws\n" CONTEXT_X1 "- name: x2\n"
                            "  context:\n"
                            "    cluster: c2\n"
                            "    user: u2\n"
                            "- name: x3\n"
                            "  context:\n"
                            "    cluster: c2\n"
                            "    namespace: team-a\n"
                            "- name: broken\n"
                            "  context:\n"
                            "    cluster: gone\n" CURRENT_X1;
        DiagList d = {0};
        int r;

        /* an unusable context elsewhere in the file does not matter */
        KubeConfig *c = parse(text, NULL, &d, &r);
        is_int(r, 0, "selection: current-context x1 usable");
        is_str(c ? c->server : NULL, "https://k8s.example:6443", "selection: x1's server");
        is_str(c ? c->token : NULL, "t0ken", "selection: x1's token");
        c = kubeconfig_free(c);

        c = parse(text, "x3", &d, &r);
        is_int(r, 0, "selection: x3 chosen");
        is_str(c ? c->context : NULL, "x3", "selection: x3 context");
        is_str(c ? c->cluster : NULL, "c2", "selection: x3 cluster");
        ok(c && !c->user && !c->token && !c->token_file, "selection: x3 has no user");
        is_str(c ? c->server : NULL, "https://c2.example", "selection: x3 server");
        is_str(c ? c->namespace : NULL, "team-a", "selection: x3 namespace");
        c = kubeconfig_free(c);
        is_int(d.n, 0, "selection: no diagnostics so far");

        /* an empty document after the kubeconfig, as generators leave, is tolerated */
        static const char trailer[] = HEAD CLUSTER_C1 USER_U1 CONTEXT_X1 CURRENT_X1 "---\n";
        c = parse(trailer, NULL, &d, &r);
        is_int(r, 0, "trailing ---: accepted");
        c = kubeconfig_free(c);

        check_errors_ctx("selection: exec user chosen", text, "x2",
                         "t.yaml:17:5: user \"u2\": exec: credential plugins are not supported; "
                         "give a token, tokenFile or client certificate and key");
        check_errors_ctx("selection: missing cluster chosen", text, "broken",
                         "t.yaml:34:14: context \"broken\": cluster: no cluster named \"gone\"");
        diag_list_clear(&d);
}

static void test_errors(void)
{
        check_errors("syntax error",
                     HEAD "clusters:\n"
                          "- name: c1\n"
                          "  cluster: {server: https://x\n" USER_U1,
                     "t.yaml:6:6: YAML syntax error: did not find expected ',' or '}' (while "
                     "parsing a flow mapping started at line 5, column 12)");
        check_errors("tab indentation",
                     HEAD "clusters:\n"
                          "\t- name: c1\n",
                     "t.yaml:4:1: YAML syntax error: found character that cannot start any token "
                     "(while scanning for the next token started at line 4, column 1)");
        check_errors("not a mapping", "- a\n- b\n",
                     "t.yaml:1:1: expected a mapping at the top, got a list");
        check_errors("empty", "", "t.yaml: empty kubeconfig");
        check_errors("only a comment", "# nothing\n", "t.yaml: empty kubeconfig");
        check_errors("two documents",
                     HEAD CLUSTER_C1 USER_U1 CONTEXT_X1 CURRENT_X1 "---\nkind: Config\n",
                     "t.yaml:18:1: a second YAML document: a kubeconfig is one");
        check_errors("apiVersion",
                     "apiVersion: v2\nkind: Config\n" CLUSTER_C1 USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:1:13: apiVersion: expected \"v1\", got \"v2\"");
        check_errors("kind", "apiVersion: v1\nkind: Pod\n" CLUSTER_C1 USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:2:7: kind: expected \"Config\", got \"Pod\"");

        /* wrong types */
        check_errors("server a mapping",
                     CLUSTER_C1 "    certificate-authority:\n"
                                "      path: /etc/ca.crt\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:6:7: cluster \"c1\": certificate-authority: expected a string, got a "
                     "mapping");
        check_errors("clusters a string", "clusters: c1\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:1:11: clusters: expected a list, got a string");
        check_errors("entry empty", "clusters:\n-\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:2:2: clusters[0]: expected a mapping, got an empty value");
        check_errors("entry a string", "clusters:\n- c1\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:2:3: clusters[0]: expected a mapping, got a string");
        check_errors("body a list",
                     CLUSTER_C1 "users:\n"
                                "- name: u1\n"
                                "  user: [token]\n" CONTEXT_X1 CURRENT_X1,
                     "t.yaml:7:9: users[0]: user: expected a mapping, got a list");
        check_errors("name a list",
                     "clusters:\n"
                     "- name: [c1]\n"
                     "  cluster:\n"
                     "    server: {}\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:2:9: clusters[0]: name: expected a string, got a list\n"
                     "t.yaml:4:13: clusters[0]: server: expected a string, got a mapping");
        check_errors("insecure quoted",
                     CLUSTER_C1
                     "    insecure-skip-tls-verify: \"true\"\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:5:31: cluster \"c1\": insecure-skip-tls-verify: expected true or "
                     "false, got \"true\"");
        check_errors("insecure a list",
                     CLUSTER_C1
                     "    insecure-skip-tls-verify: [yes]\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:5:31: cluster \"c1\": insecure-skip-tls-verify: expected true or "
                     "false, got a list");
        check_errors("current-context a mapping",
                     CLUSTER_C1 USER_U1 CONTEXT_X1 "current-context: {x1: 1}\n",
                     "t.yaml:14:18: current-context: expected a string, got a mapping");
        check_errors("NUL in a token",
                     CLUSTER_C1
                     "users:\n- name: u1\n  user:\n    token: \"t\\0k\"\n" CONTEXT_X1 CURRENT_X1,
                     "t.yaml:8:12: user \"u1\": token: contains a NUL character");
        check_errors("newline in a token",
                     CLUSTER_C1
                     "users:\n- name: u1\n  user:\n    token: \"t\\nk\"\n" CONTEXT_X1 CURRENT_X1,
                     "t.yaml:8:12: user \"u1\": token: contains a control character");

        /* names */
        check_errors("no name",
                     CLUSTER_C1 "- cluster:\n    server: https://b\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:5:3: clusters[1]: no name");
        check_errors("empty name", CLUSTER_C1 USER_U1 "- name: \"\"\n" CONTEXT_X1 CURRENT_X1,
                     "t.yaml:9:3: users[1]: the name is empty");
        check_errors(
            "duplicate cluster name",
            CLUSTER_C1
            "- name: c1\n  cluster:\n    server: https://b\n" USER_U1 CONTEXT_X1 CURRENT_X1,
            "t.yaml:5:9: duplicate cluster name \"c1\" (first at line 2, column 9)");
        check_errors("duplicate context names",
                     CLUSTER_C1 USER_U1 CONTEXT_X1 "- name: x1\n- name: x1\n" CURRENT_X1,
                     "t.yaml:14:9: duplicate context name \"x1\" (first at line 10, column 9)\n"
                     "t.yaml:15:9: duplicate context name \"x1\" (first at line 10, column 9)");
        check_errors("duplicate key",
                     CLUSTER_C1 "    server: https://other\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:5:5: cluster \"c1\": duplicate key \"server\" (first at line 4, "
                     "column 5)");

        /* selection */
        check_errors("unknown current-context",
                     CLUSTER_C1 USER_U1 CONTEXT_X1 "current-context: x9\n",
                     "t.yaml:14:18: current-context: no context named \"x9\"");
        check_errors("no current-context", CLUSTER_C1 USER_U1 CONTEXT_X1,
                     "t.yaml: no current-context is set: choose a context");
        check_errors("empty current-context",
                     CLUSTER_C1 USER_U1 CONTEXT_X1 "current-context: \"\"\n",
                     "t.yaml:14:1: current-context is empty: choose a context");
        check_errors_ctx("unknown chosen context", CLUSTER_C1 USER_U1 CONTEXT_X1 CURRENT_X1, "x2",
                         "t.yaml: no context named \"x2\"");
        check_errors(
            "context names a missing cluster",
            CLUSTER_C1 USER_U1
            "contexts:\n- name: x1\n  context:\n    cluster: c9\n    user: u1\n" CURRENT_X1,
            "t.yaml:12:14: context \"x1\": cluster: no cluster named \"c9\"");
        check_errors(
            "context names a missing user",
            CLUSTER_C1 USER_U1
            "contexts:\n- name: x1\n  context:\n    cluster: c1\n    user: u9\n" CURRENT_X1,
            "t.yaml:13:11: context \"x1\": user: no user named \"u9\"");
        check_errors("context without a cluster",
                     CLUSTER_C1 USER_U1
                     "contexts:\n- name: x1\n  context:\n    user: u1\n" CURRENT_X1,
                     "t.yaml:12:5: context \"x1\": no cluster");
        check_errors("context without a body",
                     CLUSTER_C1 USER_U1 "contexts:\n- name: x1\n" CURRENT_X1,
                     "t.yaml:10:3: context \"x1\": no cluster");
        check_errors("bad namespace",
                     CLUSTER_C1 USER_U1 CONTEXT_X1 "    namespace: Team_A\n" CURRENT_X1,
                     "t.yaml:14:16: context \"x1\": namespace: \"Team_A\" is not a valid namespace "
                     "name (at most 63 lower-case letters, digits and '-')");

        /* clusters */
        check_errors(
            "no server",
            "clusters:\n- name: c1\n  cluster:\n    insecure-skip-tls-verify: true\n" USER_U1
                CONTEXT_X1 CURRENT_X1,
            "t.yaml:4:5: cluster \"c1\": no server");
        check_errors("no cluster body", "clusters:\n- name: c1\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:2:3: cluster \"c1\": no server");
        check_errors(
            "bad base64",
            CLUSTER_C1
            "    certificate-authority-data: LS0tLS1CRUdJTi@@\n" USER_U1 CONTEXT_X1 CURRENT_X1,
            "t.yaml:5:33: cluster \"c1\": certificate-authority-data: not valid base64");
        check_errors("base64 not PEM",
                     CLUSTER_C1
                     "    certificate-authority-data: aGVsbG8=\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:5:33: cluster \"c1\": certificate-authority-data: not PEM (no "
                     "\"-----BEGIN\" line once decoded)");
        check_errors("missing padding",
                     CLUSTER_C1
                     "    certificate-authority-data: aGVsbG8\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:5:33: cluster \"c1\": certificate-authority-data: not valid base64");
        check_errors(
            "bad base64 in an unused cluster (decoding covers the file)",
            CLUSTER_C1
            "- name: c2\n  cluster:\n    certificate-authority-data: '!!'\n" USER_U1 CONTEXT_X1
                CURRENT_X1,
            "t.yaml:7:33: cluster \"c2\": certificate-authority-data: not valid base64");

        _cleanup_free_ char *pem = b64(PEM), *text = NULL;
        if (asprintf(&text,
                     CLUSTER_C1
                     "    certificate-authority: ca.crt\n"
                     "    certificate-authority-data: %s\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     pem) < 0)
                abort();
        check_errors("CA path and data", text,
                     "t.yaml:6:5: cluster \"c1\": certificate-authority and "
                     "certificate-authority-data are both set");
        free(text);
        if (asprintf(&text,
                     CLUSTER_C1
                     "    certificate-authority-data: %s\n"
                     "    insecure-skip-tls-verify: true\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     pem) < 0)
                abort();
        check_errors("insecure with a CA", text,
                     "t.yaml:6:5: cluster \"c1\": insecure-skip-tls-verify cannot be combined with "
                     "a certificate authority");
        check_errors("bad tls-server-name",
                     CLUSTER_C1
                     "    tls-server-name: \"api example\"\n" USER_U1 CONTEXT_X1 CURRENT_X1,
                     "t.yaml:5:22: cluster \"c1\": tls-server-name: \"api example\" is not a host "
                     "name");

        /* users */
        free(text);
        if (asprintf(&text,
                     CLUSTER_C1 "users:\n- name: u1\n  user:\n"
                                "    client-certificate: a.crt\n"
                                "    client-certificate-data: %s\n"
                                "    client-key: a.key\n"
                                "    client-key-data: %s\n" CONTEXT_X1 CURRENT_X1,
                     pem, pem) < 0)
                abort();
        check_errors("cert and key both ways", text,
                     "t.yaml:9:5: user \"u1\": client-certificate and client-certificate-data are "
                     "both set\n"
                     "t.yaml:11:5: user \"u1\": client-key and client-key-data are both set");
        free(text);
        if (asprintf(&text,
                     CLUSTER_C1
                     "users:\n- name: u1\n  user:\n    client-certificate-data: %s\n" CONTEXT_X1
                         CURRENT_X1,
                     pem) < 0)
                abort();
        check_errors("cert without key", text,
                     "t.yaml:8:5: user \"u1\": client-certificate-data without client-key or "
                     "client-key-data");
        check_errors("key without cert",
                     CLUSTER_C1
                     "users:\n- name: u1\n  user:\n    client-key: k.pem\n" CONTEXT_X1 CURRENT_X1,
                     "t.yaml:8:5: user \"u1\": client-key without client-certificate or "
                     "client-certificate-data");
        check_errors(
            "exec",
            CLUSTER_C1
            "users:\n- name: u1\n  user:\n    exec:\n      apiVersion: "
            "client.authentication.k8s.io/v1\n      command: gke-gcloud-auth-plugin\n" CONTEXT_X1
                CURRENT_X1,
            "t.yaml:8:5: user \"u1\": exec: credential plugins are not supported; give a "
            "token, tokenFile or client certificate and key");
        check_errors(
            "auth-provider",
            CLUSTER_C1
            "users:\n- name: u1\n  user:\n    auth-provider:\n      name: oidc\n" CONTEXT_X1
                CURRENT_X1,
            "t.yaml:8:5: user \"u1\": auth-provider: authentication provider plugins are "
            "not supported; give a token, tokenFile or client certificate and key");
        check_errors("basic auth and impersonation",
                     CLUSTER_C1
                     "users:\n- name: u1\n  user:\n    username: admin\n    password: secret\n"
                     "    as: system:serviceaccount:mlbd-system:mlbd\n" CONTEXT_X1 CURRENT_X1,
                     "t.yaml:8:5: user \"u1\": username: basic authentication is not supported; "
                     "give a token, tokenFile or client certificate and key\n"
                     "t.yaml:9:5: user \"u1\": password: basic authentication is not supported; "
                     "give a token, tokenFile or client certificate and key\n"
                     "t.yaml:10:5: user \"u1\": as: impersonation is not supported; give a token, "
                     "tokenFile or client certificate and key");

        /* several errors in one run, in file order */
        check_errors("several",
                     "clusters:\n- name: c1\n  cluster:\n    server: [a]\n"
                     "users:\n- name: u1\n  user:\n    token: {}\n" CONTEXT_X1 CURRENT_X1,
                     "t.yaml:4:13: cluster \"c1\": server: expected a string, got a list\n"
                     "t.yaml:8:12: user \"u1\": token: expected a string, got a mapping");

        /* aliases cannot multiply the decoding work */
        _cleanup_free_ char *bomb = NULL;
        size_t blen = 0;
        FILE *f = open_memstream(&bomb, &blen);
        fprintf(f, "x: &ca \"");
        for (int i = 0; i < 100; i++)
                fprintf(f, "%s", pem);
        fprintf(f, "\"\nclusters:\n");
        for (int i = 0; i < 200; i++)
                fprintf(f, "- {name: c%d, cluster: {certificate-authority-data: *ca}}\n", i);
        fclose(f);
        DiagList d = {0};
        KubeConfig *c = NULL;
        is_int(kubeconfig_parse(bomb, blen, "t.yaml", NULL, &c, &d), -EINVAL, "alias bomb refused");
        _cleanup_free_ char *got = diags_text(&d);
        ok(strstr(got, "this document is too complex: its aliases repeat more than") != NULL,
           "alias bomb: too complex");
        diag_list_clear(&d);
}

static void test_size(void)
{
        size_t n = KUBECONFIG_SIZE_MAX + 1;
        char *big = malloc(n);
        DiagList d = {0};
        KubeConfig *c = NULL;

        memset(big, '#', n);
        is_int(kubeconfig_parse(big, n, "big.yaml", NULL, &c, &d), -EINVAL, "too large: refused");
        _cleanup_free_ char *got = diags_text(&d);
        is_str(got, "big.yaml: larger than 4 MiB (4194305 bytes)", "too large: message");
        diag_list_clear(&d);
        is_int(kubeconfig_parse(big, n - 1, "big.yaml", NULL, &c, &d), -EINVAL, "4 MiB: parsed");
        free(got);
        got = diags_text(&d);
        is_str(got, "big.yaml: empty kubeconfig", "4 MiB of comments: read, then empty");
        diag_list_clear(&d);
        free(big);

        is_int(kubeconfig_load("/nonexistent/kubeconfig", NULL, &c, &d), -EINVAL, "missing file");
        free(got);
        got = diags_text(&d);
        is_str(got,
               "/nonexistent/kubeconfig: cannot read the kubeconfig: No such file or directory",
               "missing file: message");
        diag_list_clear(&d);
}

static char root[] = "/tmp/mlbd-test-incluster-XXXXXX";

static void put(const char *name, const char *content)
{
        char path[512];
        snprintf(path, sizeof(path), "%s" KUBECONFIG_SA_DIR "/%s", root, name);
        if (!content) {
                unlink(path);
                return;
        }
        if (write_file_atomic(path, content, strlen(content), 0644) < 0)
                abort();
}

static void check_in_cluster_errors(const char *name, const char *want)
{
        DiagList d = {0};
        KubeConfig *c = NULL;
        is_int(kubeconfig_in_cluster(root, &c, &d), -EINVAL, "in-cluster %s: refused", name);
        ok(c == NULL, "in-cluster %s: no config", name);
        _cleanup_free_ char *got = diags_text(&d), *w = NULL;
        /* want uses "ROOT" for the temporary root */
        _cleanup_free_ char *tmp = strdup(want);
        w = strdup("");
        for (char *s = tmp, *hit; s; s = hit ? hit + 4 : NULL) {
                hit = strstr(s, "ROOT");
                char *n = NULL;
                if (asprintf(&n, "%s%.*s%s", w, hit ? (int)(hit - s) : (int)strlen(s), s,
                             hit ? root : "") < 0)
                        abort();
                free(w);
                w = n;
        }
        is_str(got, w, "in-cluster %s: message", name);
        diag_list_clear(&d);
}

static void test_in_cluster(void)
{
        char path[640], sa[512];
        _cleanup_(kubeconfig_token_freep) char *tok = NULL;

        if (!mkdtemp(root))
                abort();
        snprintf(sa, sizeof(sa), "%s", root);
        for (char *p = strchr(KUBECONFIG_SA_DIR + 1, '/');; p = strchr(p + 1, '/')) {
                size_t n = p ? (size_t)(p - KUBECONFIG_SA_DIR) : strlen(KUBECONFIG_SA_DIR);
                snprintf(sa, sizeof(sa), "%s%.*s", root, (int)n, KUBECONFIG_SA_DIR);
                if (mkdir(sa, 0755) < 0 && errno != EEXIST)
                        abort();
                if (!p)
                        break;
        }
        put("token", "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.e30.c2ln\n");
        put("ca.crt", PEM);
        put("namespace", "mlbd-system");

        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        DiagList d = {0};
        KubeConfig *c = NULL;
        is_int(kubeconfig_in_cluster(root, &c, &d), 0, "in-cluster IPv4: accepted");
        is_int(d.n, 0, "in-cluster IPv4: no diagnostics");
        if (c) {
                is_str(c->server, "https://10.96.0.1:443", "in-cluster IPv4: server");
                snprintf(path, sizeof(path), "%s/token", sa);
                is_str(c->token_file, path, "in-cluster: token is a file");
                ok(!c->token, "in-cluster: no inline token");
                snprintf(path, sizeof(path), "%s/ca.crt", sa);
                is_str(c->ca.path, path, "in-cluster: CA is a path");
                ok(!c->ca.data && !c->insecure_skip_tls_verify, "in-cluster: verifies TLS");
                is_str(c->namespace, "mlbd-system", "in-cluster: namespace from the file");
                is_str(c->file, "in-cluster", "in-cluster: file");
                ok(!c->context && !c->cluster && !c->user, "in-cluster: no names");
                is_int(kubeconfig_read_token(c, &tok), 1, "in-cluster: token read");
                is_str(tok, "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.e30.c2ln", "in-cluster: token");
                /* the kubelet rotates the token: the new one is read */
                put("token", "rotated");
                kubeconfig_token_free(tok);
                tok = NULL;
                is_int(kubeconfig_read_token(c, &tok), 1, "in-cluster: rotated token read");
                is_str(tok, "rotated", "in-cluster: rotated token");
        }
        c = kubeconfig_free(c);

        setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
        put("namespace", NULL);
        is_int(kubeconfig_in_cluster(root, &c, &d), 0, "in-cluster IPv6: accepted");
        is_str(c ? c->server : NULL, "https://[fd00:10:96::1]:6443", "in-cluster IPv6: server");
        is_str(c ? c->namespace : NULL, "default", "in-cluster: no namespace file, default");
        c = kubeconfig_free(c);
        diag_list_clear(&d);

        setenv("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc", 1);
        is_int(kubeconfig_in_cluster(root, &c, &d), 0, "in-cluster host name: accepted");
        is_str(c ? c->server : NULL, "https://kubernetes.default.svc:6443", "in-cluster host name");
        c = kubeconfig_free(c);

        unsetenv("KUBERNETES_SERVICE_HOST");
        check_in_cluster_errors("no host", "$KUBERNETES_SERVICE_HOST: not set: not running in a "
                                           "pod (give a kubeconfig instead)");
        unsetenv("KUBERNETES_SERVICE_PORT");
        check_in_cluster_errors(
            "no env",
            "$KUBERNETES_SERVICE_HOST: not set: not running in a pod (give a kubeconfig instead)\n"
            "$KUBERNETES_SERVICE_PORT: not set: not running in a pod (give a kubeconfig instead)");
        setenv("KUBERNETES_SERVICE_HOST", "2001:db8::zz", 1);
        setenv("KUBERNETES_SERVICE_PORT", "https", 1);
        check_in_cluster_errors(
            "bad env", "$KUBERNETES_SERVICE_HOST: \"2001:db8::zz\" is not a host name or address\n"
                       "$KUBERNETES_SERVICE_PORT: \"https\" is not a port number from 1 to 65535");
        setenv("KUBERNETES_SERVICE_HOST", "2001:db8::1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        put("token", NULL);
        put("ca.crt", "not a certificate\n");
        put("namespace", "Bad_NS\n");
        check_in_cluster_errors(
            "files",
            "ROOT" KUBECONFIG_SA_DIR "/token: cannot read the service account token: No such file "
            "or directory\n"
            "ROOT" KUBECONFIG_SA_DIR "/ca.crt: not a PEM certificate\n"
            "ROOT" KUBECONFIG_SA_DIR "/namespace: \"Bad_NS\" is not a valid namespace name");
        put("token", "\n");
        put("ca.crt", NULL);
        put("namespace", NULL);
        check_in_cluster_errors("empty token",
                                "ROOT" KUBECONFIG_SA_DIR "/token: the token is empty\n"
                                "ROOT" KUBECONFIG_SA_DIR "/ca.crt: cannot read the service "
                                "account CA certificate: No such file or directory");

        put("token", NULL);
        for (int i = 0; i < 5; i++) {
                char *s = strrchr(sa, '/');
                rmdir(sa);
                *s = 0;
        }
        rmdir(root);
}

int main(void)
{
        test_kubectl_file();
        test_paths();
        test_resolve();
        test_token();
        test_servers();
        test_selection();
        test_errors();
        test_size();
        test_in_cluster();
        return tap_done();
}
