/* SPDX-License-Identifier: MIT */
/* AddrSet (reconcile.c): the address sets of a reconcile, against a naive model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager-private.h"
#include "tap.h"

#define SPACE 3000 /* addresses drawn from a small space: many removals hit members */

static unsigned long long rng = 0x20261201ULL;

static unsigned next(void)
{
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        return (unsigned)(rng >> 33);
}

static u128 addr_of(unsigned i)
{
        return ((u128)0x20010db8ULL << 96) + i; /* 2001:db8::i */
}

/* Every member is in addrs[0..n) exactly once, and nothing else is. */
static bool matches(const AddrSet *d, const bool *model, size_t n_model)
{
        static unsigned seen[SPACE];
        static unsigned round;

        round++;
        if (d->n != n_model)
                return false;
        for (size_t i = 0; i < d->n; i++) {
                u128 off = d->addrs[i] - addr_of(0);
                if (off >= SPACE || !model[off] || seen[off] == round)
                        return false;
                seen[off] = round;
        }
        for (unsigned i = 0; i < SPACE; i++)
                if (addrset_has(d, addr_of(i)) != model[i])
                        return false;
        return true;
}

int main(void)
{
        static bool model[SPACE];
        AddrSet d = {0};
        size_t n_model = 0, bad = 0;

        ok(!addrset_has(&d, addr_of(1)), "empty set has nothing");
        ok(!addrset_remove(&d, addr_of(1)), "nothing to remove");
        for (unsigned op = 0; op < 60000; op++) {
                unsigned i = next() % SPACE;
                if (next() % 3) {
                        bad += addrset_add(&d, addr_of(i)) != 0;
                        n_model += !model[i];
                        model[i] = true;
                } else {
                        bad += addrset_remove(&d, addr_of(i)) != model[i];
                        n_model -= model[i];
                        model[i] = false;
                }
                if (op % 4999 == 0 && !matches(&d, model, n_model))
                        bad++;
        }
        is_int(bad, 0, "60,000 random adds and removes agree with the model");
        ok(matches(&d, model, n_model), "members and order-free array agree at the end");
        ok(d.n_index >= 2 * d.n, "indexed");

        /* remove everything, in random order: every probe run is closed up behind */
        for (unsigned left = SPACE * 4; n_model > 0 && left > 0; left--) {
                unsigned i = next() % SPACE;
                bad += addrset_remove(&d, addr_of(i)) != model[i];
                n_model -= model[i];
                model[i] = false;
        }
        for (unsigned i = 0; i < SPACE; i++)
                if (model[i]) {
                        bad += !addrset_remove(&d, addr_of(i));
                        model[i] = false;
                        n_model--;
                }
        is_int(bad, 0, "removing everything");
        ok(matches(&d, model, 0), "empty again");

        for (unsigned i = 0; i < 100; i++)
                addrset_add(&d, addr_of(i));
        addrset_clear(&d);
        ok(d.n == 0 && !addrset_has(&d, addr_of(5)), "cleared");
        is_int(addrset_add(&d, addr_of(5)), 0, "usable after clear");
        ok(addrset_has(&d, addr_of(5)) && d.n == 1, "holds what was added after");
        addrset_done(&d);
        ok(!d.addrs && !d.index && d.n == 0, "done frees");

        /* filled as announcer_foreach() does (no index), then used as a set */
        AddrSet l = {.addrs = calloc(4, sizeof(u128)), .cap = 4};
        for (unsigned i = 0; i < 4; i++)
                addrset_collect_cb(addr_of(i * 10), "eth0", &l);
        ok(l.n == 4 && addrset_has(&l, addr_of(30)) && !addrset_has(&l, addr_of(31)),
           "a collected set answers without an index");
        ok(addrset_remove(&l, addr_of(0)) && l.n == 3 && !addrset_has(&l, addr_of(0)),
           "and removes");
        is_int(addrset_add(&l, addr_of(31)), 0, "adding indexes it");
        ok(l.n_index > 0 && addrset_has(&l, addr_of(31)) && addrset_has(&l, addr_of(10)) &&
               addrset_has(&l, addr_of(20)) && addrset_has(&l, addr_of(30)) &&
               !addrset_has(&l, addr_of(0)),
           "with every member");
        addrset_done(&l);
        return tap_done();
}
