/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what lease.c reads from the API server. The first byte picks the
 * input: a timestamp (lease_time_parse, which must round-trip through the MicroTime
 * format), or the body of a GET answer (200) fed to an elector, which must then either
 * wait or write a Lease naming itself as holder, with the resourceVersion it was given.
 */
#include <string.h>

#include "lease.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_time(const char *s)
{
        char buf[LEASE_TIME_MAX];
        uint64_t u, v;

        if (lease_time_parse(s, &u) < 0)
                return;
        if (u > 253402300799999999ULL) /* 9999 with a negative offset: beyond formatting */
                return;
        if (lease_time_parse(lease_microtime_format(u, buf), &v) < 0 || u != v)
                __builtin_trap();
}

/* An update must name us as holder and carry the resourceVersion of what we read. */
static void check_update(const LeaseAction *a, const char *body, size_t size)
{
        json_t *j, *src;

        if (a->request != LEASE_REQUEST_UPDATE)
                return;
        j = json_loads(a->body, 0, NULL);
        src = json_loadb(body, size, JSON_REJECT_DUPLICATES, NULL);
        const char *h =
            json_string_value(json_object_get(json_object_get(j, "spec"), "holderIdentity"));
        const char *rv =
            json_string_value(json_object_get(json_object_get(j, "metadata"), "resourceVersion"));
        const char *want =
            json_string_value(json_object_get(json_object_get(src, "metadata"), "resourceVersion"));
        if (!j || !h || strcmp(h, "me_1") != 0 || !rv || !want || strcmp(rv, want) != 0)
                __builtin_trap();
        json_decref(j);
        json_decref(src);
}

static void fuzz_get(const char *body, size_t size)
{
        LeaseConfig c = {.namespace = "mlbd-system", .name = "mlbd-bridge", .identity = "me_1"};
        _cleanup_(lease_freep) Lease *l = NULL;
        LeaseAction a;

        lease_config_default(&c);
        if (lease_new(&l, &c) < 0 || lease_next(l, 0, 0, &a) < 0)
                return;
        lease_action_done(&a);
        /* At 0 (a free lease is taken at once), then much later with the same record (any
         * other holder has expired by then). */
        for (uint64_t t = 0;; t = 1ULL << 62) {
                if (lease_handle_response(l, t, 200, body, size) < 0)
                        return;
                if (lease_next(l, t, 0, &a) < 0)
                        return;
                check_update(&a, body, size);
                bool sent = a.request != LEASE_REQUEST_NONE;
                lease_action_done(&a);
                if (sent || t > 0)
                        return;
                if (lease_next(l, 1ULL << 62, 0, &a) < 0)
                        return;
                if (a.request != LEASE_REQUEST_GET)
                        __builtin_trap(); /* a standby polls */
                lease_action_done(&a);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s;

        if (size < 1 || size > 65536)
                return 0;
        log_max_level = LOG_CRIT;
        s = malloc(size);
        if (!s)
                return 0;
        memcpy(s, data + 1, size - 1);
        s[size - 1] = '\0';
        if (data[0] & 1)
                fuzz_time(s);
        else
                fuzz_get(s, size - 1);
        free(s);
        return 0;
}
