/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: kube_retry_after_parse(), the Retry-After header of the bridge's
 * answers from the API server (kube.c). The input is one header line. The result must
 * be -1 or 0..KUBE_RETRY_AFTER_MAX_S; a result >= 0 only for a line that is
 * "Retry-After:" (any case), blanks, digits, blanks and an optional CR LF, and then the
 * digits' value capped; the same line with a name that differs gives -1.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: by regular steps, on a NUL-terminated copy. */
static long reference(const char *s, size_t n)
{
        size_t i = 12, d;
        unsigned long long v = 0;

        if (n < 12 || strncasecmp(s, "retry-after:", 12) != 0)
                return -1;
        i += strspn(s + i, " \t");
        d = strspn(s + i, "0123456789");
        if (d == 0)
                return -1;
        for (size_t k = 0; k < d; k++)
                if (v <= KUBE_RETRY_AFTER_MAX_S)
                        v = v * 10 + (unsigned)(s[i + k] - '0');
        i += d;
        i += strspn(s + i, " \t");
        if (s[i] == '\r')
                i++;
        if (s[i] == '\n')
                i++;
        if (i != n)
                return -1;
        return v > KUBE_RETRY_AFTER_MAX_S ? KUBE_RETRY_AFTER_MAX_S : (long)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s;
        long r;

        if (size > 4096)
                return 0;
        r = kube_retry_after_parse((const char *)data, size);
        if (r < -1 || r > KUBE_RETRY_AFTER_MAX_S)
                __builtin_trap();
        /* a NUL inside the line makes it no Retry-After for the reference */
        if (!memchr(data, 0, size)) {
                if (!(s = malloc(size + 1)))
                        return 0;
                memcpy(s, data, size);
                s[size] = 0;
                if (r != reference(s, size))
                        __builtin_trap();
                if (r >= 0) {
                        s[0] = s[0] == 'x' ? 'y' : 'x'; /* another header's name */
                        if (kube_retry_after_parse(s, size) != -1)
                                __builtin_trap();
                }
                free(s);
        } else if (r >= 0)
                __builtin_trap();
        return 0;
}
