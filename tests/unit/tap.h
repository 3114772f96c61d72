/* SPDX-License-Identifier: MIT */
/*
 * Minimal TAP producer for unit tests run by automake's tap-driver.sh. Each check prints
 * "ok N - name" or "not ok N - name" plus a diagnostic; tap_done() prints the plan and
 * returns the exit status. Header-only so each test is one file.
 */
#pragma once

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3))) static inline int ok(int cond, const char *fmt, ...)
{
        va_list ap;

        tap_n++;
        if (!cond)
                tap_failed++;
        printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        return cond;
}

#define is_int(got, want, ...)                                                                     \
        do {                                                                                       \
                long long _g = (long long)(got), _w = (long long)(want);                           \
                if (!ok(_g == _w, __VA_ARGS__))                                                    \
                        printf("#   got %lld, want %lld (%s:%d)\n", _g, _w, __FILE__, __LINE__);   \
        } while (0)

#define is_str(got, want, ...)                                                                     \
        do {                                                                                       \
                const char *_g = (got), *_w = (want);                                              \
                if (!ok(_g && _w ? strcmp(_g, _w) == 0 : _g == _w, __VA_ARGS__))                   \
                        printf("#   got \"%s\"\n#  want \"%s\" (%s:%d)\n", _g ? _g : "(null)",     \
                               _w ? _w : "(null)", __FILE__, __LINE__);                            \
        } while (0)

static inline void diag_note(const char *s)
{
        printf("# %s\n", s);
}

static inline int tap_done(void)
{
        printf("1..%d\n", tap_n);
        return tap_failed ? 1 : 0;
}
