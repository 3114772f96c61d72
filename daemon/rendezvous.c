/* SPDX-License-Identifier: MIT */
/*
 * Rendezvous ownership hashing; the contract (key, byte layout, tie rule) is in
 * rendezvous.h. Ranking is an in-place heapsort over the index array so that the same code
 * serves both the cached-score and the recompute-per-comparison paths without qsort_r.
 */
#include <sodium.h>
#include <string.h>

#include "rendezvous.h"

_Static_assert(crypto_shorthash_KEYBYTES == RDV_KEY_LEN, "SipHash-2-4 takes a 16-byte key");
_Static_assert(crypto_shorthash_BYTES == 8, "SipHash-2-4 yields 8 bytes");
_Static_assert(sizeof(RDV_KEY) == RDV_KEY_LEN + 1, "RDV_KEY is 16 characters");

uint64_t rdv_score(u128 addr, const char *node_name)
{
        uint8_t in[16 + RDV_NAME_MAX], out[crypto_shorthash_BYTES];
        size_t len = strnlen(node_name, RDV_NAME_MAX);
        uint64_t v = 0;

        for (size_t i = 0; i < 16; i++)
                in[i] = (uint8_t)(addr >> (8 * (15 - i)));
        memcpy(in + 16, node_name, len);

        /* crypto_shorthash needs no sodium_init(): SipHash has no runtime CPU dispatch. */
        crypto_shorthash(out, in, 16 + len, (const unsigned char *)RDV_KEY);

        for (size_t i = 0; i < sizeof(out); i++)
                v |= (uint64_t)out[i] << (8 * i);
        return v;
}

ssize_t rdv_owner(u128 addr, const char *const *names, const bool *eligible, size_t n)
{
        ssize_t best = -1;
        uint64_t best_score = 0;

        for (size_t i = 0; i < n; i++) {
                uint64_t s;

                if (eligible && !eligible[i])
                        continue;
                s = rdv_score(addr, names[i]);
                if (best < 0 || rdv_before(s, names[i], best_score, names[best])) {
                        best = (ssize_t)i;
                        best_score = s;
                }
        }
        return best;
}

typedef struct RankCtx {
        u128 addr;
        const char *const *names;
        const uint64_t *scores; /* indexed like names; NULL: recompute */
} RankCtx;

/* Heap order is "ranks after", so the heap's root is the worst and the final array,
 * filled from the back, ends up best first. Equal (score, name) pairs fall back to the
 * index so that the order is total and independent of the sort's own steps. */
static bool rank_after(const RankCtx *c, size_t a, size_t b)
{
        uint64_t sa = c->scores ? c->scores[a] : rdv_score(c->addr, c->names[a]);
        uint64_t sb = c->scores ? c->scores[b] : rdv_score(c->addr, c->names[b]);

        if (rdv_before(sb, c->names[b], sa, c->names[a]))
                return true;
        if (rdv_before(sa, c->names[a], sb, c->names[b]))
                return false;
        return a > b;
}

static void sift_down(const RankCtx *c, size_t *v, size_t root, size_t n)
{
        for (;;) {
                size_t child = 2 * root + 1, tmp;

                if (child >= n)
                        return;
                if (child + 1 < n && rank_after(c, v[child + 1], v[child]))
                        child++;
                if (!rank_after(c, v[child], v[root]))
                        return;
                tmp = v[root];
                v[root] = v[child];
                v[child] = tmp;
                root = child;
        }
}

size_t rdv_rank_scratch(u128 addr, const char *const *names, const bool *eligible, size_t n,
                        size_t *order, uint64_t *scores)
{
        RankCtx c = {.addr = addr, .names = names, .scores = scores};
        size_t m = 0;

        for (size_t i = 0; i < n; i++) {
                if (eligible && !eligible[i])
                        continue;
                order[m++] = i;
                if (scores)
                        scores[i] = rdv_score(addr, names[i]);
        }

        for (size_t i = m / 2; i-- > 0;)
                sift_down(&c, order, i, m);
        for (size_t end = m; end > 1; end--) {
                size_t tmp = order[0];

                order[0] = order[end - 1];
                order[end - 1] = tmp;
                sift_down(&c, order, 0, end - 1);
        }
        return m;
}

size_t rdv_rank(u128 addr, const char *const *names, const bool *eligible, size_t n, size_t *order)
{
        _cleanup_free_ uint64_t *scores = n > 0 ? calloc(n, sizeof(uint64_t)) : NULL;

        return rdv_rank_scratch(addr, names, eligible, n, order, scores);
}
