/* SPDX-License-Identifier: MIT */
/*
 * Rendezvous ownership: pinned score values (an accidental change of key, byte layout or
 * byte order would split a mixed-version cluster), agreement under any input order,
 * minimal movement on removal and addition, balance, the eligibility mask, and rank order
 * against the owner. The pinned values were computed by an independent Python SipHash-2-4
 * (checked against the SipHash paper's test vector) over the layout in rendezvous.h.
 */
#include <string.h>

#include "rendezvous.h"
#include "tap.h"

#define NODES 10
#define ADDRS 10000

static const char *const node_names[NODES] = {
    "node-00", "node-01", "node-02", "node-03", "node-04",
    "node-05", "node-06", "node-07", "node-08", "node-09",
};

static u128 parse(const char *s)
{
        u128 a = 0;
        if (!addr_parse(s, &a))
                abort();
        return a;
}

/* 2001:db8::/32 plus i: documentation space, only used as numbers here. */
static u128 nth_addr(size_t i)
{
        return parse("2001:db8::") + i;
}

/* xorshift64*: a fixed, seeded sequence for the permutations and masks. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1du;
}

static void shuffle(size_t *v, size_t n)
{
        for (size_t i = n; i > 1; i--) {
                size_t j = rng() % i, t = v[i - 1];
                v[i - 1] = v[j];
                v[j] = t;
        }
}

static void pinned(void)
{
        /* Independent reference: see the file comment. */
        ok(rdv_score(parse("192.0.2.10"), "node-a") == UINT64_C(0x7a31a18ecb55502f),
           "score(192.0.2.10, node-a) = 0x7a31a18ecb55502f");
        ok(rdv_score(parse("2001:db8::1"), "worker-17.example.net") == UINT64_C(0xa1291f01309a575d),
           "score(2001:db8::1, worker-17.example.net) = 0xa1291f01309a575d");
        ok(rdv_score(parse("192.0.2.10"), "node-a") != rdv_score(parse("192.0.2.11"), "node-a"),
           "score depends on the address");
        ok(rdv_score(parse("192.0.2.10"), "node-a") != rdv_score(parse("192.0.2.10"), "node-b"),
           "score depends on the name");
        ok(rdv_score(addr_from_v4(0xc000020a), "node-a") ==
               rdv_score(parse("192.0.2.10"), "node-a"),
           "IPv4 is hashed as its mapped 128-bit form");
}

static void agreement(void)
{
        bool all_agree = true, tie_agree = true;
        char long_a[300], long_b[300];

        for (size_t k = 0; k < 200; k++) {
                u128 a = nth_addr(k * 7919);
                size_t perm[NODES];
                const char *names[NODES];
                bool elig[NODES];
                ssize_t ref = rdv_owner(a, node_names, NULL, NODES);

                for (size_t i = 0; i < NODES; i++)
                        perm[i] = i;
                for (size_t round = 0; round < 5; round++) {
                        ssize_t o;

                        shuffle(perm, NODES);
                        for (size_t i = 0; i < NODES; i++) {
                                names[i] = node_names[perm[i]];
                                elig[i] = true;
                        }
                        o = rdv_owner(a, names, elig, NODES);
                        if (o < 0 || strcmp(names[o], node_names[ref]) != 0)
                                all_agree = false;
                }
        }
        ok(all_agree, "200 addresses x 5 permutations: the same owner name every time");

        /* Names that differ only past RDV_NAME_MAX hash equally: the tie rule decides, and
         * the byte-wise smaller name wins whichever comes first. */
        memset(long_a, 'x', sizeof(long_a));
        memset(long_b, 'x', sizeof(long_b));
        long_a[280] = 'a';
        long_b[280] = 'b';
        long_a[299] = long_b[299] = '\0';
        ok(rdv_score(nth_addr(1), long_a) == rdv_score(nth_addr(1), long_b),
           "names equal in their first %d bytes score equally", RDV_NAME_MAX);
        for (size_t k = 0; k < 50; k++) {
                const char *ab[2] = {long_a, long_b}, *ba[2] = {long_b, long_a};
                if (rdv_owner(nth_addr(k), ab, NULL, 2) != 0 ||
                    rdv_owner(nth_addr(k), ba, NULL, 2) != 1)
                        tie_agree = false;
        }
        ok(tie_agree, "score tie: the byte-wise smaller name owns, in either input order");
}

static void owners(ssize_t *out, const bool *elig)
{
        for (size_t k = 0; k < ADDRS; k++)
                out[k] = rdv_owner(nth_addr(k), node_names, elig, NODES);
}

static void movement_and_balance(void)
{
        static ssize_t all[ADDRS], part[ADDRS];
        size_t count[NODES] = {0};
        bool elig[NODES];

        owners(all, NULL);
        for (size_t k = 0; k < ADDRS; k++)
                count[all[k]]++;
        for (size_t n = 0; n < NODES; n++)
                ok(count[n] >= ADDRS * 7 / 100 && count[n] <= ADDRS * 13 / 100,
                   "balance: %s owns %zu of %d (7%%..13%%)", node_names[n], count[n], ADDRS);

        for (size_t gone = 0; gone < NODES; gone++) {
                size_t moved = 0, wrong = 0;

                for (size_t n = 0; n < NODES; n++)
                        elig[n] = n != gone;
                owners(part, elig);
                for (size_t k = 0; k < ADDRS; k++) {
                        if (part[k] == (ssize_t)gone)
                                wrong++;
                        else if (part[k] != all[k]) {
                                moved++;
                                if (all[k] != (ssize_t)gone)
                                        wrong++;
                        }
                }
                ok(wrong == 0 && moved == count[gone],
                   "remove %s: exactly its %zu addresses move (moved %zu, wrong %zu)",
                   node_names[gone], count[gone], moved, wrong);

                /* The other direction: from the nine, add the tenth back. */
                moved = wrong = 0;
                for (size_t k = 0; k < ADDRS; k++) {
                        if (all[k] != part[k]) {
                                moved++;
                                if (all[k] != (ssize_t)gone)
                                        wrong++;
                        }
                }
                ok(wrong == 0 && moved == count[gone],
                   "add %s to the other nine: %zu addresses move, all onto it (wrong %zu)",
                   node_names[gone], moved, wrong);
        }
}

static void eligibility(void)
{
        bool honoured = true, subset = true;
        bool none[NODES] = {false};
        size_t order[NODES];

        for (size_t k = 0; k < 2000; k++) {
                u128 a = nth_addr(k * 31);
                bool elig[NODES];
                const char *sub[NODES];
                size_t m = 0;
                ssize_t o, os;
                uint64_t mask = rng();

                for (size_t n = 0; n < NODES; n++) {
                        elig[n] = (mask >> n) & 1;
                        if (elig[n])
                                sub[m++] = node_names[n];
                }
                o = rdv_owner(a, node_names, elig, NODES);
                os = rdv_owner(a, sub, NULL, m);
                if (m == 0 ? o != -1 : o < 0 || !elig[o])
                        honoured = false;
                if (m > 0 && (os < 0 || strcmp(sub[os], node_names[o]) != 0))
                        subset = false;
        }
        ok(honoured, "2000 random masks: the owner is always eligible");
        ok(subset, "2000 random masks: same owner as over the eligible names alone");

        is_int(rdv_owner(nth_addr(5), node_names, none, NODES), -1, "no eligible node: -1");
        is_int(rdv_owner(nth_addr(5), node_names, NULL, 0), -1, "no nodes at all: -1");
        is_int(rdv_rank(nth_addr(5), node_names, none, NODES, order), 0,
               "no eligible node: empty rank");
}

static void rank(void)
{
        bool owner_first = true, second_next = true, descending = true, same = true, counts = true;

        for (size_t k = 0; k < 1000; k++) {
                u128 a = nth_addr(k * 101);
                bool elig[NODES];
                size_t o1[NODES], o2[NODES], o3[NODES], m1, m2, m3, want = 0;
                uint64_t scores[NODES];
                uint64_t mask = rng() | 1; /* at least node-00 */

                for (size_t n = 0; n < NODES; n++)
                        want += elig[n] = (mask >> n) & 1;
                m1 = rdv_rank(a, node_names, elig, NODES, o1);
                m2 = rdv_rank_scratch(a, node_names, elig, NODES, o2, scores);
                m3 = rdv_rank_scratch(a, node_names, elig, NODES, o3, NULL);
                if (m1 != want || m2 != want || m3 != want) {
                        counts = false;
                        continue;
                }
                if (memcmp(o1, o2, m1 * sizeof(size_t)) != 0 ||
                    memcmp(o1, o3, m1 * sizeof(size_t)) != 0)
                        same = false;
                if ((ssize_t)o1[0] != rdv_owner(a, node_names, elig, NODES))
                        owner_first = false;
                for (size_t i = 1; i < m1; i++) {
                        const char *p = node_names[o1[i - 1]], *q = node_names[o1[i]];
                        if (!rdv_before(rdv_score(a, p), p, rdv_score(a, q), q))
                                descending = false;
                }
                if (m1 >= 2) {
                        elig[o1[0]] = false;
                        if ((ssize_t)o1[1] != rdv_owner(a, node_names, elig, NODES))
                                second_next = false;
                }
        }
        ok(counts, "rank returns the number of eligible nodes");
        ok(owner_first, "rank[0] is the owner");
        ok(second_next, "rank[1] is the owner once rank[0] is ineligible");
        ok(descending, "rank is strictly descending by (score, then smaller name)");
        ok(same, "rank with allocated, caller-provided and no score scratch agree");
}

int main(void)
{
        pinned();
        agreement();
        movement_and_balance();
        eligibility();
        rank();
        return tap_done();
}
