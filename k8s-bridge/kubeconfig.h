/* SPDX-License-Identifier: MIT */
/*
 * Where the API server is and how to authenticate to it: read from a kubeconfig file
 * (apiVersion v1, kind Config, as kubectl writes it) or built from a pod's service account
 * (in-cluster). kubeconfig_parse() is pure (no I/O, no globals); the loaders around it do
 * the reading.
 *
 * What is read: clusters[].{name, cluster.{server, certificate-authority,
 * certificate-authority-data, insecure-skip-tls-verify, tls-server-name}},
 * users[].{name, user.{client-certificate, client-certificate-data, client-key,
 * client-key-data, token, tokenFile}}, contexts[].{name, context.{cluster, user,
 * namespace}} and current-context. Other keys (preferences, extensions, proxy-url, ...) are
 * ignored. A user with exec, auth-provider, username/password or impersonation (as,
 * as-groups, as-uid, as-user-extra) is refused when it is the one selected: silently
 * dropping those would authenticate as someone else or not at all.
 *
 * As in client-go, decoding covers the whole file (types, base64, control characters,
 * duplicate keys and names: an error anywhere is an error), while the semantic checks (a
 * server, one of -data or a path, known cluster and user names, no unsupported auth)
 * cover only the selected context, so a file holding many contexts can be used while
 * another of them is unusable.
 *
 * Errors are diagnostics (util/diag.h) "FILE:LINE:COLUMN: message" at the node concerned;
 * errors about the file as a whole (size, read failures, a missing context chosen by the
 * caller) have no place and print as "FILE: message".
 *
 * Invariants of a KubeConfig returned by any constructor here: server is set, an http://
 * or https:// URL with a host (an IPv6 literal in brackets), a port of 1-65535 if any, no
 * user information, query or fragment, and no trailing '/'; namespace is set (default
 * "default"); for each of ca, client_cert and client_key at most one of path and data is
 * set, data is PEM and NUL-terminated (the NUL is not counted in len); client_cert and
 * client_key are both set or both unset; token (if set) is non-empty with no control
 * characters; relative paths were resolved against the kubeconfig file's directory; never
 * insecure_skip_tls_verify together with a CA.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"
#include "util/macro.h"

/* Inputs larger than this are refused (a kubeconfig is a few KiB; a big one with many
 * embedded certificates a few hundred). */
#define KUBECONFIG_SIZE_MAX (4u * 1024 * 1024)
/* Token files larger than this are refused by kubeconfig_read_token(). */
#define KUBECONFIG_TOKEN_MAX (64u * 1024)

/* The service account files a pod gets, under the root given to kubeconfig_in_cluster(). */
#define KUBECONFIG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* A certificate or key: a file to read, or the bytes themselves, or neither. */
typedef struct KubePem {
        char *path;    /* resolved path, or NULL */
        uint8_t *data; /* decoded PEM, NUL-terminated, or NULL */
        size_t len;    /* bytes in data, without the NUL */
} KubePem;

typedef struct KubeConfig {
        char *file;    /* the kubeconfig's name as given, or "in-cluster" */
        char *context; /* the context used; NULL in-cluster */
        char *cluster; /* its cluster's name; NULL in-cluster */
        char *user;    /* its user's name, NULL if the context names none or in-cluster */

        char *server; /* "https://host:port[/path]", see the invariants above */
        KubePem ca;
        bool insecure_skip_tls_verify;
        char *tls_server_name; /* or NULL: the server's host name is checked */

        KubePem client_cert, client_key;
        char *token;      /* inline bearer token, or NULL */
        char *token_file; /* file holding the token, re-read on use; wins over token */

        char *namespace; /* never NULL */
} KubeConfig;

/* Parses a kubeconfig held in memory. file names it in diagnostics and its directory is
 * the base of relative paths (NULL: "-", paths stay relative). context selects a context
 * by name; NULL uses current-context. Returns 0 and a KubeConfig, -EINVAL with at least
 * one error in diags, or -ENOMEM. */
int kubeconfig_parse(const char *text, size_t len, const char *file, const char *context,
                     KubeConfig **ret, DiagList *diags);

/* Reads path and calls kubeconfig_parse(); a read failure is a diagnostic too (-EINVAL). */
int kubeconfig_load(const char *path, const char *context, KubeConfig **ret, DiagList *diags);

/* The configuration of a pod: server https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
 * (an IPv6 host in brackets), token_file ROOT/KUBECONFIG_SA_DIR/token (which must exist
 * and hold a token now; it is re-read on use because the kubelet rotates it), ca.path
 * ROOT/KUBECONFIG_SA_DIR/ca.crt (must exist and hold PEM) and the namespace from
 * ROOT/KUBECONFIG_SA_DIR/namespace ("default" if the file is absent, as client-go).
 * root is "" in production. Returns 0, -EINVAL with diagnostics, or -ENOMEM. */
int kubeconfig_in_cluster(const char *root, KubeConfig **ret, DiagList *diags);

/* The bearer token to send now: read afresh from token_file when it is set, else the
 * inline token; surrounding whitespace is trimmed. Returns 1 and a malloc'd token, 0 and
 * NULL when the configuration has no token, or -errno: the read error, -EFBIG (larger
 * than KUBECONFIG_TOKEN_MAX), -ENODATA (empty), -EBADMSG (a control character inside). */
int kubeconfig_read_token(const KubeConfig *c, char **ret);

/* Frees c, wiping the token and key material first; returns NULL. */
KubeConfig *kubeconfig_free(KubeConfig *c);
DEFINE_FREEP(KubeConfig, kubeconfig_free)

/* Frees a token from kubeconfig_read_token(), wiping it first. */
void kubeconfig_token_free(char *token);
static inline void kubeconfig_token_freep(char **p)
{
        kubeconfig_token_free(*p);
}
