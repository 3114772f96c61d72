/* SPDX-License-Identifier: MIT */
/*
 * The ordered run set: merging and splitting runs, the AVL invariants, first-free search at
 * the ends of the 128-bit space and across IPv4 .255/.0 borders, and a randomized run
 * against a plain bitmap over small windows of the address space.
 */
#include <string.h>

#include "ordset.h"
#include "tap.h"

#define U128_MAX (~(u128)0)

static u128 v4(const char *s)
{
        u128 a = 0;
        if (!addr_parse(s, &a))
                abort();
        return a;
}

static void basic(void)
{
        OrdSet s;
        AddrRange runs[8];
        u128 a;

        ordset_init(&s, false);
        ok(ordset_first_free(&s, 10, 20, &a) && a == 10, "empty set: first free is lo");
        is_int(ordset_add(&s, 11), 0, "add 11");
        is_int(ordset_add(&s, 13), 0, "add 13");
        is_int(ordset_runs(&s, runs, 8), 2, "two runs");
        is_int(ordset_add(&s, 12), 0, "add 12 joins the runs");
        is_int(ordset_runs(&s, runs, 8), 1, "one run");
        ok(runs[0].first == 11 && runs[0].last == 13, "run is 11-13");
        is_int(ordset_add(&s, 12), -EEXIST, "adding a member again is -EEXIST");
        ok(ordset_first_free(&s, 11, 20, &a) && a == 14, "first free after run is 14");
        ok(!ordset_first_free(&s, 11, 13, &a), "range 11-13 is full");
        is_int(ordset_remove(&s, 12), 0, "remove 12 splits");
        is_int(ordset_runs(&s, runs, 8), 2, "two runs again");
        ok(ordset_first_free(&s, 11, 13, &a) && a == 12, "hole at 12 is found");
        is_int(ordset_remove(&s, 12), -ENOENT, "removing a non-member is -ENOENT");
        is_int(ordset_check(&s), 0, "invariants hold");
        ordset_done(&s);

        /* the ends of the 128-bit space: no wrap-around */
        ordset_init(&s, false);
        is_int(ordset_add(&s, 0), 0, "add ::");
        is_int(ordset_add(&s, 1), 0, "add ::1");
        ok(ordset_first_free(&s, 0, 5, &a) && a == 2, ":: and ::1 used: ::2 free");
        is_int(ordset_add(&s, U128_MAX), 0, "add ffff:...:ffff");
        is_int(ordset_add(&s, U128_MAX - 1), 0, "add ffff:...:fffe");
        ok(!ordset_first_free(&s, U128_MAX - 1, U128_MAX, &a), "top two addresses full");
        ok(ordset_first_free(&s, U128_MAX - 2, U128_MAX, &a) && a == U128_MAX - 2,
           "the one below is free");
        ok(!ordset_first_free(&s, 0, 1, &a), "bottom two addresses full");
        is_int(ordset_remove(&s, U128_MAX), 0, "remove the last address");
        ok(ordset_first_free(&s, U128_MAX - 1, U128_MAX, &a) && a == U128_MAX,
           "the last address is free again");
        is_int(ordset_check(&s), 0, "invariants hold");
        ordset_done(&s);

        /* avoid_buggy: runs bridge .255/.0 */
        ordset_init(&s, true);
        is_int(ordset_add(&s, v4("192.0.2.255")), -EINVAL, "a .255 address cannot be added");
        is_int(ordset_add(&s, v4("192.0.2.0")), -EINVAL, "a .0 address cannot be added");
        is_int(ordset_add(&s, v4("192.0.2.254")), 0, "add 192.0.2.254");
        is_int(ordset_add(&s, v4("192.0.3.1")), 0, "add 192.0.3.1");
        is_int(ordset_runs(&s, runs, 8), 1, "254 and next .1 form one run across .255/.0");
        ok(ordset_first_free(&s, v4("192.0.2.254"), v4("192.0.3.255"), &a) && a == v4("192.0.3.2"),
           "first free after 192.0.2.254 is 192.0.3.2");
        ok(ordset_first_free(&s, v4("192.0.2.255"), v4("192.0.3.255"), &a) && a == v4("192.0.3.2"),
           "search starting on .255 skips it and the run");
        ok(ordset_first_free(&s, v4("192.0.3.0"), v4("192.0.3.255"), &a) && a == v4("192.0.3.2"),
           "search starting on .0 skips it and the run");
        ok(!ordset_contains(&s, v4("192.0.2.255")), "a bridged .255 is not a member");
        is_int(ordset_remove(&s, v4("192.0.2.255")), -ENOENT, "nor can it be removed");
        is_int(ordset_remove(&s, v4("192.0.3.1")), 0, "remove 192.0.3.1");
        is_int(ordset_runs(&s, runs, 8), 1, "one run left");
        ok(runs[0].first == v4("192.0.2.254") && runs[0].last == v4("192.0.2.254"),
           "trimmed back to 192.0.2.254");
        ok(!ordset_first_free(&s, v4("192.0.2.254"), v4("192.0.3.0"), &a),
           "254 used, 255 and .0 buggy: nothing free up to 192.0.3.0");
        is_int(ordset_check(&s), 0, "invariants hold");
        ordset_done(&s);
}

/* A window of W addresses starting at base; the model is one byte per address. */
#define W 600

static bool naive_free(const unsigned char *m, u128 base, bool avoid, size_t lo, size_t hi,
                       size_t *ret)
{
        for (size_t i = lo; i <= hi; i++)
                if (!m[i] && !(avoid && addr_is_buggy(base + i))) {
                        *ret = i;
                        return true;
                }
        return false;
}

static unsigned long long rng_state;
static unsigned long long rnd(void)
{
        /* xorshift64*: fixed seed, same sequence everywhere */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 2685821657736338717ULL;
}

static void randomized(const char *name, u128 base, bool avoid, unsigned ops)
{
        OrdSet s;
        unsigned char m[W] = {0};
        unsigned bad = 0;

        ordset_init(&s, avoid);
        for (unsigned op = 0; op < ops && !bad; op++) {
                size_t i = rnd() % W;
                u128 a = base + i;
                unsigned kind = rnd() % 4;
                if (kind < 2) {
                        int want = m[i] ? -EEXIST : (avoid && addr_is_buggy(a)) ? -EINVAL : 0;
                        int r = ordset_reserve(&s, 1) ?: ordset_add(&s, a);
                        if (r != want)
                                bad++;
                        if (r == 0)
                                m[i] = 1;
                } else if (kind == 2) {
                        int r = ordset_reserve(&s, 1) ?: ordset_remove(&s, a);
                        if (r != (m[i] ? 0 : -ENOENT))
                                bad++;
                        m[i] = 0;
                } else {
                        size_t j = i + rnd() % (W - i), want;
                        u128 got;
                        bool f = ordset_first_free(&s, a, base + j, &got);
                        bool g = naive_free(m, base, avoid, i, j, &want);
                        if (f != g || (f && got != base + want))
                                bad++;
                }
                if (ordset_check(&s) < 0)
                        bad++;
                if (ordset_contains(&s, a) != (m[i] != 0))
                        bad++;
        }
        ok(!bad, "%s: %u random operations agree with a bitmap, invariants hold", name, ops);
        ordset_done(&s);
}

int main(void)
{
        rng_state = 0x6d6c6264u; /* "mlbd" */
        printf("# seed 0x%llx\n", rng_state);
        basic();
        randomized("bottom of the space", 0, false, 20000);
        randomized("top of the space", U128_MAX - (W - 1), false, 20000);
        randomized("IPv4 across /24 borders", v4("198.51.100.200"), false, 20000);
        randomized("IPv4 avoid_buggy across /24 borders", v4("198.51.100.200"), true, 20000);
        randomized("v6/v4 boundary with avoid_buggy", ADDR_V4_BASE - 300, true, 20000);
        return tap_done();
}
