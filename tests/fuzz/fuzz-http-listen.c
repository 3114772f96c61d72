/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the listen-string parser of http-server. Besides the sanitizers it
 * checks what http-server.h promises: an error always has a reason and leaves the result
 * alone; an accepted string has a family matching its length, "any" only for an empty
 * address, and parses again to the same result when written back out.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        HttpListen l, again, untouched;
        const char *why = NULL;
        char *s, back[INET6_ADDRSTRLEN + 16], a[INET6_ADDRSTRLEN];
        int r;

        if (size > 256 || !(s = malloc(size + 1)))
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        memset(&l, 0xa5, sizeof(l));
        untouched = l;
        r = http_listen_parse(s, &l, &why);
        if (r < 0) {
                if (r != -EINVAL || !why || memcmp(&l, &untouched, sizeof(l)) != 0)
                        __builtin_trap();
                goto out;
        }
        if (r != 0)
                __builtin_trap();
        if (l.addr.sa.sa_family == AF_INET) {
                if (l.len != sizeof(l.addr.in) || l.any ||
                    !inet_ntop(AF_INET, &l.addr.in.sin_addr, a, sizeof(a)))
                        __builtin_trap();
                snprintf(back, sizeof(back), "%s:%u", a, ntohs(l.addr.in.sin_port));
        } else if (l.addr.sa.sa_family == AF_INET6) {
                if (l.len != sizeof(l.addr.in6) ||
                    !inet_ntop(AF_INET6, &l.addr.in6.sin6_addr, a, sizeof(a)))
                        __builtin_trap();
                if (l.any)
                        snprintf(back, sizeof(back), ":%u", ntohs(l.addr.in6.sin6_port));
                else
                        snprintf(back, sizeof(back), "[%s]:%u", a, ntohs(l.addr.in6.sin6_port));
        } else
                __builtin_trap();
        if (l.any && s[0] != ':')
                __builtin_trap();
        if (http_listen_parse(back, &again, NULL) != 0 || again.len != l.len ||
            again.any != l.any || memcmp(&again.addr, &l.addr, l.len) != 0)
                __builtin_trap();
out:
        free(s);
        return 0;
}
