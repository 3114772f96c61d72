/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the mlbd.conf parser. Besides the sanitizers it checks what the parser
 * promises: errors and a Conf never both, every diagnostic points into the input, and
 * what is accepted is valid (listen addresses round-trip, peers are unique valid names).
 */
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_hostport(const HostPort *hp)
{
        char buf[HOSTPORT_STR_MAX];
        HostPort back;

        if (!hostport_format(hp, buf, sizeof(buf)) || !hostport_parse(buf, &back) ||
            back.set != hp->set || (hp->set && (back.addr != hp->addr || back.port != hp->port)))
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        DiagList d = {0};
        Conf *c = NULL;
        unsigned lines = 1;
        int r;

        if (size > 65536)
                return 0;
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';

        r = conf_parse("/etc/mlbd/mlbd.conf", (const char *)data, size, &c, &d);
        if ((r == 0) != (d.n_errors == 0) || (r == 0) != (c != NULL))
                __builtin_trap();
        for (size_t i = 0; i < d.n; i++) {
                char *s = diag_format(&d.items[i]);
                if (d.items[i].line > lines || !s)
                        __builtin_trap();
                /* inih found a syntax error our reading of the lines missed */
                if (strcmp(d.items[i].msg, "syntax error") == 0)
                        __builtin_trap();
                free(s);
        }
        if (c) {
                check_hostport(&c->cluster_listen);
                check_hostport(&c->metrics_listen);
                if (!c->cluster_listen.set || node_name_invalid(c->node_name, NULL))
                        __builtin_trap();
                for (size_t i = 0; i < c->n_peers; i++) {
                        if (node_name_invalid(c->peers[i].name, NULL))
                                __builtin_trap();
                        for (size_t j = 0; j < i; j++)
                                if (c->peers[i].addr == c->peers[j].addr ||
                                    strcmp(c->peers[i].name, c->peers[j].name) == 0)
                                        __builtin_trap();
                }
                if (c->dead_after_ms < 2 * c->heartbeat_interval_ms || c->garp_count > 100 ||
                    !c->pools || c->pools[0] != '/' || strlen(c->socket) > 107)
                        __builtin_trap();
        }
        conf_free(c);
        diag_list_clear(&d);
        return 0;
}
