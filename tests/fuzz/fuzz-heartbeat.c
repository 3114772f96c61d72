/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the heartbeat decoder (daemon/heartbeat.c) with a fixed key. Each input
 * is decoded twice: as it is (almost always "forged"), and with its last 32 bytes replaced
 * by the right tag, so the parser behind the tag check is exercised too. What decodes must
 * encode back and decode to the same heartbeat, and hb_names() (the peek before the tag)
 * must agree with the decoded name.
 */
#include <sodium.h>
#include <string.h>

#include "heartbeat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[HB_KEY_SIZE] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                         11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                         22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static uint8_t buf[HB_MAX_PACKET + 1], out[HB_MAX_PACKET];

static void check(const uint8_t *p, size_t len, bool tagged)
{
        Heartbeat hb = {0}, again = {0};
        HbDrop d = _HB_DROP_MAX;
        bool named = hb_names(p, len, "node1"); /* the unauthenticated peek, on any input */
        int r = hb_decode(p, len, key, &hb, &d);

        if (r < 0)
                return;
        if (r == HB_DROPPED) {
                if ((unsigned)d >= _HB_DROP_MAX || !hb_drop_to_string(d))
                        __builtin_trap();
                if (tagged && d == HB_DROP_FORGED)
                        __builtin_trap(); /* the right tag must verify */
                return;
        }
        for (size_t i = 1; i < hb.n_owned; i++)
                if (hb.owned[i - 1] >= hb.owned[i])
                        __builtin_trap(); /* sorted and unique */
        if (!hb_name_valid(hb.name))
                __builtin_trap();
        if (named != (strcmp(hb.name, "node1") == 0))
                __builtin_trap(); /* the peek agrees with the decoder on authentic packets */

        size_t written = 0;
        ssize_t n = hb_encode(out, key, hb.name, hb.incarnation, hb.sequence, hb.leaving, hb.owned,
                              hb.n_owned, &written);
        if (n < 0 || (size_t)n > len || written != hb.n_owned)
                __builtin_trap(); /* sorted+deduplicated re-encoding is never longer */
        if (hb_decode(out, (size_t)n, key, &again, &d) != HB_OK ||
            strcmp(again.name, hb.name) != 0 || again.incarnation != hb.incarnation ||
            again.sequence != hb.sequence || again.leaving != hb.leaving ||
            again.n_owned != hb.n_owned ||
            (hb.n_owned && memcmp(again.owned, hb.owned, hb.n_owned * sizeof(u128)) != 0))
                __builtin_trap();
        heartbeat_done(&again);
        heartbeat_done(&hb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > HB_MAX_PACKET + 1)
                return 0;
        check(data, size, false);
        if (size >= HB_MIN_PACKET && size <= HB_MAX_PACKET) {
                memcpy(buf, data, size);
                crypto_auth(buf + size - HB_TAG_SIZE, buf, size - HB_TAG_SIZE, key);
                check(buf, size, true);
        }
        return 0;
}
