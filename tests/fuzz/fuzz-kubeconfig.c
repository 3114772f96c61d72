/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the kubeconfig parser, with current-context and with a context chosen
 * by name. No I/O. Besides the sanitizers it checks what kubeconfig.h promises: an error
 * and a KubeConfig never both; every diagnostic points into the input; an accepted
 * configuration keeps the invariants listed in the header.
 */
#include <string.h>

#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_control(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < ' ' || *s == 0x7f)
                        return true;
        return false;
}

static void check_pem(const KubePem *k)
{
        if (k->path && k->data)
                __builtin_trap();
        if (k->path && !*k->path)
                __builtin_trap();
        if (k->data && (k->data[k->len] != 0 || !memmem(k->data, k->len, "-----BEGIN ", 11)))
                __builtin_trap();
        if (!k->data && k->len)
                __builtin_trap();
}

static void check_config(const KubeConfig *c)
{
        size_t n;

        if (!c->file || !c->context || !c->cluster || !c->server || !c->namespace)
                __builtin_trap();
        if (strncmp(c->server, "https://", 8) != 0 && strncmp(c->server, "http://", 7) != 0)
                __builtin_trap();
        n = strlen(c->server);
        const char *host = strstr(c->server, "://") + 3;
        size_t authority = strcspn(host, "/");
        if (c->server[n - 1] == '/' || authority == 0 || memchr(host, '@', authority) ||
            strchr(c->server, '?') || strchr(c->server, '#') || strchr(c->server, ' ') ||
            has_control(c->server))
                __builtin_trap();
        n = strlen(c->namespace);
        if (n == 0 || n > 63 || strspn(c->namespace, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
                __builtin_trap();
        check_pem(&c->ca);
        check_pem(&c->client_cert);
        check_pem(&c->client_key);
        if (!!(c->client_cert.path || c->client_cert.data) !=
            !!(c->client_key.path || c->client_key.data))
                __builtin_trap();
        if (c->insecure_skip_tls_verify && (c->ca.path || c->ca.data))
                __builtin_trap();
        if (c->token && (!*c->token || has_control(c->token)))
                __builtin_trap();
        if (c->token_file && !*c->token_file)
                __builtin_trap();
        if (c->tls_server_name && (!*c->tls_server_name || has_control(c->tls_server_name)))
                __builtin_trap();
        if (!c->user && (c->token || c->token_file || c->client_cert.path || c->client_cert.data))
                __builtin_trap();
}

static void one(const uint8_t *data, size_t size, const char *context, unsigned lines)
{
        DiagList d = {0};
        KubeConfig *c = NULL;
        int r = kubeconfig_parse((const char *)data, size, "dir/kubeconfig", context, &c, &d);

        if (r == -ENOMEM)
                goto out;
        if ((r == 0) != (d.n_errors == 0) || (r == 0) != (c != NULL) || (r < 0 && r != -EINVAL))
                __builtin_trap();
        for (size_t i = 0; i < d.n; i++) {
                char *t = diag_format(&d.items[i]);
                if (!t || d.items[i].line > lines || strchr(t, '\n'))
                        __builtin_trap();
                free(t);
        }
        if (c)
                check_config(c);
out:
        kubeconfig_free(c);
        diag_list_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        unsigned lines = 1;

        if (size > 65536)
                return 0;
        /* libyaml also breaks lines at CR, NEL (C2 85) and LS/PS (E2 80 A8/A9) */
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xa8 ||
                         data[i] == 0xa9;
        one(data, size, NULL, lines);
        one(data, size, "fuzz", lines);
        return 0;
}
