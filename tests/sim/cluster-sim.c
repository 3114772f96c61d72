/* SPDX-License-Identifier: MIT */
/*
 * Cluster simulation of rendezvous ownership under churn and heartbeat loss (docs/scale.md).
 *
 * Time runs in heartbeat ticks (interval_ms). Every live node sends one heartbeat per tick
 * to every other node (full mesh, unicast); each one is lost independently with
 * probability p. Observer i holds, per sender j, a streak: ticks since the last heartbeat
 * it received from j. j is live in i's view while streak < K = dead_after / interval, and
 * eligible once i has seen a heartbeat sent after j became ready. A node that (re)joins
 * knows nobody and claims nothing for K ticks (it learns its peers first); its peers treat
 * it as ineligible until its heartbeats say it is ready. Deaths come as a Poisson process
 * (one every death_every_ms on average, cluster-wide) and each dead node rejoins after a
 * uniform 1..down_max_ms.
 *
 * Each tick every acting node (alive and ready) computes the owner of every address over
 * its own view with the rendezvous order of daemon/rendezvous.c. To keep N=1000 cheap,
 * nodes whose views differ from the truth in the same way form one group and are
 * evaluated once; nodes whose view equals the truth agree with the true owner. Measured:
 * addresses moved per death (and per rejoin) against the ideal 1/N_live, false death
 * declarations, (address, tick) pairs where acting nodes disagree on the owner and the
 * length of those episodes, double-claimed and unclaimed address-ticks (a node claims an
 * address when its own view names itself). Make-before-break (design.md) is not modelled:
 * these are the raw view disagreements it has to cover.
 *
 * Deterministic: xoshiro256** seeded from --seed (default 1); bounded: the default full
 * run simulates 1 h for N=10 and N=100 and 10 min for N=1000.
 *
 * Usage: cluster-sim [--nodes N] [--loss P] [--seconds S] [--seed X] [--addrs-per-node A]
 *                    [--interval-ms I] [--dead-after-ms D] [--death-every-ms M]
 *                    [--down-max-ms M] [--quick]
 * --quick runs N=10 for 10 simulated minutes at loss 0, 0.05 and 0.2, checks invariants and
 * exits 1 if one fails (tests/sim/cluster-sim-quick.sh).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rendezvous.h"

#define TOP_RANK 32           /* ranked nodes kept per address; past that a full scan */
#define NAME_FMT "node-%04zu" /* 9 bytes: the name length used for the traffic figures */
#define NEVER_HEARD 255

typedef struct Params {
        size_t nodes, addrs_per_node;
        double loss;
        unsigned interval_ms, dead_after_ms, death_every_ms, down_max_ms;
        double seconds; /* 0: default for the size */
        uint64_t seed;
} Params;

typedef struct Rng {
        uint64_t s[4];
} Rng;

static uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(Rng *r)
{
        uint64_t result = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;

        r->s[2] ^= r->s[0];
        r->s[3] ^= r->s[1];
        r->s[1] ^= r->s[2];
        r->s[0] ^= r->s[3];
        r->s[2] ^= t;
        r->s[3] = rotl(r->s[3], 45);
        return result;
}

static void rng_seed(Rng *r, uint64_t seed)
{
        for (size_t i = 0; i < 4; i++) { /* splitmix64 */
                uint64_t z = (seed += 0x9e3779b97f4a7c15u);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
                r->s[i] = z ^ (z >> 31);
        }
}

/* Uniform in (0, 1]. */
static double rng_unit(Rng *r)
{
        return ((rng_next(r) >> 11) + 1) * 0x1.0p-53;
}

static uint64_t rng_below(Rng *r, uint64_t n)
{
        return rng_next(r) % n; /* bias < n / 2^64: irrelevant here */
}

/* Number of successes before the first failure-free... i.e. trials skipped before the
 * next event of probability p: geometric on {0, 1, ...}. */
static uint64_t rng_geometric(Rng *r, double log1mp)
{
        double g = floor(log(rng_unit(r)) / log1mp);
        return g > 1e18 ? UINT64_C(1000000000000000000) : (uint64_t)g;
}

typedef struct Stats {
        uint64_t ticks, deaths, rejoins;
        double moved_death_sum, ideal_death_sum, moved_death_max;
        uint64_t moved_death_addrs;
        double moved_join_sum, ideal_join_sum;
        uint64_t moved_wrong; /* addresses moved that the dead/joining node did not own */
        uint64_t false_deaths, detect_sum, detect_n, detect_max;
        uint64_t disagree_ticks, disagree_episodes, disagree_len_sum, disagree_len_max;
        uint64_t double_ticks, unclaimed_ticks, unclaimed_len_max;
        uint64_t full_scans, max_groups;
        double pair_ticks; /* sum over ticks of acting observers x other live senders */
} Stats;

typedef struct Sim {
        Params p;
        size_t n, a;
        unsigned K;
        Rng rng;
        char **names;
        uint16_t *top; /* a * R: nodes by rank */
        size_t R;
        uint8_t *streak;  /* n * n: [observer * n + sender] */
        uint32_t *active; /* pair ids with streak > 0 (or a fresh death) */
        size_t n_active, cap_active;
        uint32_t *fresh;
        size_t n_fresh, cap_fresh;
        bool *alive;
        int64_t *ready_at, *died_at, *rejoin_at;
        int32_t *group_of; /* -1 not acting, 0 agrees with truth, g >= 1 */
        uint32_t *stamp;   /* per node, for set membership */
        uint32_t stamp_gen;
        int32_t *base_owner;         /* per address, over the truth */
        int32_t *view_owner;         /* per address, scratch */
        uint32_t *dis_run, *unc_run; /* per address: current episode length */
        uint32_t *devs;
        size_t n_devs, cap_devs;
        size_t *g_start, *g_len;    /* per distinct deviating view: its run in devs */
        uint8_t *claims, *disagree; /* per address, scratch */
        size_t open_runs;           /* addresses with an episode in progress */
        bool *elig_scratch;
        Stats st;
} Sim;

static void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size);
        if (!p) {
                fprintf(stderr, "cluster-sim: out of memory\n");
                exit(2);
        }
        return p;
}

static void push(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
        if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 1024;
                *v = realloc(*v, *cap * sizeof(**v));
                if (!*v) {
                        fprintf(stderr, "cluster-sim: out of memory\n");
                        exit(2);
                }
        }
        (*v)[(*n)++] = x;
}

static u128 sim_addr(size_t k)
{
        /* 2001:db8::/32 (documentation space), used as numbers only. */
        return ((u128)0x20010db8u << 96) + k;
}

static bool base_eligible(const Sim *s, size_t j, int64_t t)
{
        return s->alive[j] && t >= s->ready_at[j];
}

/* Owner over a view: truth, with the nodes stamped stamp_gen flipped (gen 0: none). */
static int32_t owner_in_view(Sim *s, size_t k, int64_t t, uint32_t gen)
{
        const uint16_t *r = s->top + k * s->R;

        for (size_t i = 0; i < s->R; i++) {
                size_t j = r[i];
                bool e = base_eligible(s, j, t);
                if (gen && s->stamp[j] == gen)
                        e = !e;
                if (e)
                        return (int32_t)j;
        }
        if (s->R == s->n)
                return -1;
        s->st.full_scans++;
        for (size_t j = 0; j < s->n; j++) {
                s->elig_scratch[j] = base_eligible(s, j, t);
                if (gen && s->stamp[j] == gen)
                        s->elig_scratch[j] = !s->elig_scratch[j];
        }
        return (int32_t)rdv_owner(sim_addr(k), (const char *const *)s->names, s->elig_scratch,
                                  s->n);
}

static void sim_init(Sim *s, const Params *p)
{
        size_t *order;
        uint64_t *scores;

        memset(s, 0, sizeof(*s));
        s->p = *p;
        s->n = p->nodes;
        s->a = p->nodes * p->addrs_per_node;
        s->K = p->dead_after_ms / p->interval_ms;
        if (s->K < 1)
                s->K = 1;
        rng_seed(&s->rng, p->seed);
        s->names = xcalloc(s->n, sizeof(char *));
        for (size_t i = 0; i < s->n; i++) {
                s->names[i] = xcalloc(32, 1);
                snprintf(s->names[i], 32, NAME_FMT, i);
        }

        /* The ranking comes from the library itself, so the simulation checks the code the
         * daemon runs, not a copy of its tie rule. */
        s->R = s->n < TOP_RANK ? s->n : TOP_RANK;
        s->top = xcalloc(s->a * s->R, sizeof(uint16_t));
        order = xcalloc(s->n, sizeof(size_t));
        scores = xcalloc(s->n, sizeof(uint64_t));
        for (size_t k = 0; k < s->a; k++) {
                rdv_rank_scratch(sim_addr(k), (const char *const *)s->names, NULL, s->n, order,
                                 scores);
                for (size_t i = 0; i < s->R; i++)
                        s->top[k * s->R + i] = (uint16_t)order[i];
        }
        free(order);
        free(scores);

        s->streak = xcalloc(s->n * s->n, 1);
        s->alive = xcalloc(s->n, sizeof(bool));
        s->ready_at = xcalloc(s->n, sizeof(int64_t));
        s->died_at = xcalloc(s->n, sizeof(int64_t));
        s->rejoin_at = xcalloc(s->n, sizeof(int64_t));
        s->group_of = xcalloc(s->n, sizeof(int32_t));
        s->stamp = xcalloc(s->n, sizeof(uint32_t));
        s->base_owner = xcalloc(s->a, sizeof(int32_t));
        s->view_owner = xcalloc(s->a, sizeof(int32_t));
        s->dis_run = xcalloc(s->a, sizeof(uint32_t));
        s->unc_run = xcalloc(s->a, sizeof(uint32_t));
        s->elig_scratch = xcalloc(s->n, sizeof(bool));
        s->g_start = xcalloc(s->n, sizeof(size_t));
        s->g_len = xcalloc(s->n, sizeof(size_t));
        s->claims = xcalloc(s->a, 1);
        s->disagree = xcalloc(s->a, 1);
        for (size_t i = 0; i < s->n; i++) {
                s->alive[i] = true;
                s->ready_at[i] = -(int64_t)NEVER_HEARD; /* ready since long before tick 0 */
                s->rejoin_at[i] = -1;
        }
        for (size_t k = 0; k < s->a; k++)
                s->base_owner[k] = owner_in_view(s, k, 0, 0);
}

static void sim_free(Sim *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->names[i]);
        free(s->names);
        free(s->top);
        free(s->streak);
        free(s->active);
        free(s->fresh);
        free(s->alive);
        free(s->ready_at);
        free(s->died_at);
        free(s->rejoin_at);
        free(s->group_of);
        free(s->stamp);
        free(s->base_owner);
        free(s->view_owner);
        free(s->dis_run);
        free(s->unc_run);
        free(s->devs);
        free(s->elig_scratch);
        free(s->g_start);
        free(s->g_len);
        free(s->claims);
        free(s->disagree);
}

/* Recomputes the true owners after node j left (gone) or became ready (!gone) and
 * records how many moved. */
static void truth_changed(Sim *s, size_t j, int64_t t, bool gone, size_t live_before)
{
        size_t moved = 0, wrong = 0;

        for (size_t k = 0; k < s->a; k++) {
                int32_t o = owner_in_view(s, k, t, 0);
                if (o != s->base_owner[k]) {
                        moved++;
                        if (gone ? s->base_owner[k] != (int32_t)j : o != (int32_t)j)
                                wrong++;
                }
                s->base_owner[k] = o;
        }
        s->st.moved_wrong += wrong;
        if (gone) {
                double f = (double)moved / (double)s->a;
                s->st.moved_death_addrs += moved;
                s->st.moved_death_sum += f;
                s->st.ideal_death_sum += 1.0 / (double)live_before;
                if (f > s->st.moved_death_max)
                        s->st.moved_death_max = f;
        } else {
                s->st.moved_join_sum += (double)moved / (double)s->a;
                s->st.ideal_join_sum += 1.0 / (double)(live_before + 1);
        }
}

static size_t live_ready(const Sim *s, int64_t t)
{
        size_t c = 0;
        for (size_t j = 0; j < s->n; j++)
                c += base_eligible(s, j, t);
        return c;
}

static void churn(Sim *s, int64_t t, int64_t *next_death)
{
        const int64_t down_min = 1000 / s->p.interval_ms;
        const int64_t down_max = s->p.down_max_ms / s->p.interval_ms;

        for (size_t i = 0; i < s->n; i++) {
                if (s->alive[i] || s->rejoin_at[i] != t)
                        continue;
                s->alive[i] = true;
                s->ready_at[i] = t + s->K;
                s->rejoin_at[i] = -1;
                s->st.rejoins++;
                /* A fresh incarnation has heard from nobody. */
                for (size_t j = 0; j < s->n; j++) {
                        uint8_t *st = &s->streak[i * s->n + j];
                        if (j == i)
                                continue;
                        if (*st == 0)
                                push(&s->active, &s->n_active, &s->cap_active,
                                     (uint32_t)(i * s->n + j));
                        *st = NEVER_HEARD;
                }
        }
        for (size_t i = 0; i < s->n; i++)
                if (s->alive[i] && s->ready_at[i] == t && t > 0)
                        truth_changed(s, i, t, false, live_ready(s, t) - 1);

        while (t >= *next_death) {
                size_t live = live_ready(s, t), pick, j;

                *next_death +=
                    1 + (int64_t)(-log(rng_unit(&s->rng)) * s->p.death_every_ms / s->p.interval_ms);
                if (live < 2)
                        continue;
                pick = rng_below(&s->rng, live);
                for (j = 0; j < s->n; j++)
                        if (base_eligible(s, j, t) && pick-- == 0)
                                break;
                s->alive[j] = false;
                s->died_at[j] = t;
                s->rejoin_at[j] =
                    t + down_min + (int64_t)rng_below(&s->rng, (uint64_t)(down_max - down_min + 1));
                /* One join per tick, so each join's moves are measured on their own. */
                for (size_t o = 0; o < s->n; o++)
                        if (o != j && !s->alive[o] && s->rejoin_at[o] == s->rejoin_at[j]) {
                                s->rejoin_at[j]++;
                                o = (size_t)-1;
                        }
                s->st.deaths++;
                truth_changed(s, j, t, true, live);
                for (size_t i = 0; i < s->n; i++) {
                        if (i != j && s->streak[i * s->n + j] == 0)
                                push(&s->active, &s->n_active, &s->cap_active,
                                     (uint32_t)(i * s->n + j));
                }
        }
}

static bool acting(const Sim *s, size_t i, int64_t t)
{
        return base_eligible(s, i, t);
}

static void count_streak_k(Sim *s, size_t i, size_t j, int64_t t)
{
        if (!acting(s, i, t))
                return;
        if (s->alive[j]) {
                s->st.false_deaths++;
        } else {
                uint64_t d = (uint64_t)(t - s->died_at[j] + 1);
                s->st.detect_sum += d;
                s->st.detect_n++;
                if (d > s->st.detect_max)
                        s->st.detect_max = d;
        }
}

static void heartbeats(Sim *s, int64_t t)
{
        const size_t nn = s->n * s->n;
        size_t w = 0;

        /* New losses among pairs that were fine: skip through the flat pair space. */
        s->n_fresh = 0;
        if (s->p.loss > 0) {
                double l1p = log1p(-s->p.loss);
                for (uint64_t x = rng_geometric(&s->rng, l1p); x < nn;
                     x += 1 + rng_geometric(&s->rng, l1p)) {
                        size_t i = x / s->n, j = x % s->n;
                        if (i == j || !s->alive[j] || s->streak[x] != 0)
                                continue;
                        s->streak[x] = 1;
                        if (s->K == 1)
                                count_streak_k(s, i, j, t);
                        push(&s->fresh, &s->n_fresh, &s->cap_fresh, (uint32_t)x);
                }
        }

        /* Pairs already missing heartbeats: silent sender, or another loss, or a receipt. */
        for (size_t r = 0; r < s->n_active; r++) {
                uint32_t x = s->active[r];
                size_t i = x / s->n, j = x % s->n;
                uint8_t *st = &s->streak[x];

                if (!s->alive[j] || rng_unit(&s->rng) <= s->p.loss) {
                        if (*st < NEVER_HEARD) {
                                (*st)++;
                                if (*st == s->K)
                                        count_streak_k(s, i, j, t);
                        }
                        s->active[w++] = x;
                } else
                        *st = 0;
        }
        s->n_active = w;
        for (size_t r = 0; r < s->n_fresh; r++)
                push(&s->active, &s->n_active, &s->cap_active, s->fresh[r]);
}

static bool view_eligible(const Sim *s, size_t i, size_t j, int64_t t)
{
        uint8_t st = s->streak[i * s->n + j];

        if (i == j)
                return acting(s, i, t);
        /* Live, and the last heartbeat i got from j (sent st ticks ago) said "ready". */
        return st < s->K && t - st >= s->ready_at[j];
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

static void close_runs(Sim *s, size_t k)
{
        if (s->dis_run[k]) {
                s->st.disagree_episodes++;
                s->st.disagree_len_sum += s->dis_run[k];
                if (s->dis_run[k] > s->st.disagree_len_max)
                        s->st.disagree_len_max = s->dis_run[k];
                s->dis_run[k] = 0;
        }
        if (s->unc_run[k]) {
                if (s->unc_run[k] > s->st.unclaimed_len_max)
                        s->st.unclaimed_len_max = s->unc_run[k];
                s->unc_run[k] = 0;
        }
}

/* Views that differ from the truth, grouped; each group's owners, agreement and claims. */
static void judge(Sim *s, int64_t t)
{
        size_t n_groups = 0, n_base = 0, *g_start = s->g_start, *g_len = s->g_len;
        uint8_t *claims = s->claims, *disagree = s->disagree;

        s->n_devs = 0;
        for (size_t r = 0; r < s->n_active; r++) {
                uint32_t x = s->active[r];
                size_t i = x / s->n, j = x % s->n;
                if (acting(s, i, t) && view_eligible(s, i, j, t) != base_eligible(s, j, t))
                        push(&s->devs, &s->n_devs, &s->cap_devs, x);
        }
        for (size_t i = 0; i < s->n; i++)
                s->group_of[i] = acting(s, i, t) ? 0 : -1;

        if (s->n_devs > 0) {
                qsort(s->devs, s->n_devs, sizeof(uint32_t), cmp_u32);
                /* Each observer's deviation set is a run of devs; equal runs share a group. */
                for (size_t r = 0; r < s->n_devs;) {
                        size_t i = s->devs[r] / s->n, e = r, g;
                        while (e < s->n_devs && s->devs[e] / s->n == i)
                                e++;
                        for (g = 0; g < n_groups; g++) {
                                size_t len = e - r, gs = g_start[g];
                                bool same = g_len[g] == len;
                                for (size_t q = 0; same && q < len; q++)
                                        same = s->devs[gs + q] % s->n == s->devs[r + q] % s->n;
                                if (same)
                                        break;
                        }
                        if (g == n_groups) {
                                g_start[g] = r;
                                g_len[g] = e - r;
                                n_groups++;
                        }
                        s->group_of[i] = (int32_t)(g + 1);
                        r = e;
                }
        }
        if (n_groups > s->st.max_groups)
                s->st.max_groups = n_groups;

        for (size_t i = 0; i < s->n; i++)
                n_base += s->group_of[i] == 0;

        if (n_groups == 0 && s->open_runs == 0) {
                /* Everyone sees the truth: all agree and each owner claims its own. */
                return;
        }

        /* claimers[k] and disagreement, folding one group at a time into view_owner. */
        {
                for (size_t k = 0; k < s->a; k++) {
                        int32_t o = s->base_owner[k];
                        s->view_owner[k] = n_base > 0 ? o : -2; /* -2: no opinion yet */
                        claims[k] = n_base > 0 && o >= 0 && s->group_of[o] == 0;
                        disagree[k] = 0;
                }
                for (size_t g = 0; g < n_groups; g++) {
                        uint32_t gen = ++s->stamp_gen;
                        for (size_t q = 0; q < g_len[g]; q++)
                                s->stamp[s->devs[g_start[g] + q] % s->n] = gen;
                        for (size_t k = 0; k < s->a; k++) {
                                int32_t o = owner_in_view(s, k, t, gen);
                                if (s->view_owner[k] == -2)
                                        s->view_owner[k] = o;
                                else if (s->view_owner[k] != o)
                                        disagree[k] = 1;
                                if (o >= 0 && s->group_of[o] == (int32_t)(g + 1) && claims[k] < 255)
                                        claims[k]++;
                        }
                }
                s->open_runs = 0;
                for (size_t k = 0; k < s->a; k++) {
                        if (disagree[k]) {
                                s->st.disagree_ticks++;
                                s->dis_run[k]++;
                        } else if (s->dis_run[k]) {
                                s->st.disagree_episodes++;
                                s->st.disagree_len_sum += s->dis_run[k];
                                if (s->dis_run[k] > s->st.disagree_len_max)
                                        s->st.disagree_len_max = s->dis_run[k];
                                s->dis_run[k] = 0;
                        }
                        if (claims[k] >= 2)
                                s->st.double_ticks++;
                        if (claims[k] == 0) {
                                s->st.unclaimed_ticks++;
                                s->unc_run[k]++;
                        } else if (s->unc_run[k]) {
                                if (s->unc_run[k] > s->st.unclaimed_len_max)
                                        s->st.unclaimed_len_max = s->unc_run[k];
                                s->unc_run[k] = 0;
                        }
                        s->open_runs += s->dis_run[k] || s->unc_run[k];
                }
        }
}

static void sim_run(Sim *s, int64_t ticks)
{
        int64_t next_death =
            1 + (int64_t)(-log(rng_unit(&s->rng)) * s->p.death_every_ms / s->p.interval_ms);

        for (int64_t t = 0; t < ticks; t++) {
                size_t acting_n = 0, alive_n = 0;

                churn(s, t, &next_death);
                for (size_t i = 0; i < s->n; i++) {
                        alive_n += s->alive[i];
                        acting_n += base_eligible(s, i, t);
                }
                s->st.pair_ticks += (double)acting_n * (double)(alive_n - 1);
                heartbeats(s, t);
                judge(s, t);
        }
        for (size_t k = 0; k < s->a; k++)
                close_runs(s, k);
        s->st.ticks = (uint64_t)ticks;
}

static double default_seconds(size_t nodes)
{
        return nodes >= 1000 ? 600 : 3600;
}

static size_t packet_bytes(size_t name_len, size_t owned_v4)
{
        return 20 + 8 + 26 + name_len + 5 * owned_v4 + 32;
}

static void print_traffic(const Params *p, const size_t *sizes, size_t n_sizes)
{
        char name[32];
        size_t name_len = (size_t)snprintf(name, sizeof(name), NAME_FMT, (size_t)0);
        size_t pkt = packet_bytes(name_len, p->addrs_per_node);
        double hz = 1000.0 / p->interval_ms;

        printf("heartbeat traffic, full mesh, unicast, IPv4, every %u ms; one packet = 20 IP + "
               "8 UDP + 26 header + %zu name + 5 x %zu addresses + 32 tag = %zu bytes at the IP "
               "layer, %zu on the wire (+14 Ethernet header, +4 FCS; preamble and gap not "
               "counted)\n",
               p->interval_ms, name_len, p->addrs_per_node, pkt, pkt + 18);
        printf("%6s %14s %16s %16s %18s\n", "nodes", "pkts/s/node", "IP bytes/s/node",
               "wire bytes/s/node", "cluster pkts/s");
        for (size_t i = 0; i < n_sizes; i++) {
                double pps = (double)(sizes[i] - 1) * hz;
                printf("%6zu %14.0f %16.0f %16.0f %18.0f\n", sizes[i], pps, pps * (double)pkt,
                       pps * (double)(pkt + 18), pps * (double)sizes[i]);
        }
        printf("(per node, sent and received alike: each node sends one packet to each of the "
               "N-1 others and receives one from each)\n\n");
}

static void print_block(const Sim *s, double seconds)
{
        const Stats *st = &s->st;
        double ms = s->p.interval_ms, hours = seconds / 3600.0;
        double q = pow(s->p.loss, s->K) * (1 - s->p.loss);
        double formula = (double)s->n * (double)(s->n - 1) * q * 3600.0 * 1000.0 / ms;
        double expected = st->pair_ticks * q;

        printf("N=%zu loss=%.2f: %.0f s simulated (%" PRIu64 " ticks), %zu addresses\n", s->n,
               s->p.loss, seconds, st->ticks, s->a);
        printf("  deaths %" PRIu64 ", rejoins %" PRIu64 "; moved per death: mean %.3f%% max "
               "%.3f%% (ideal 1/N_live: mean %.3f%%); moved per rejoin: mean %.3f%% (ideal "
               "%.3f%%); moves not from/to that node: %" PRIu64 "\n",
               st->deaths, st->rejoins,
               st->deaths ? 100.0 * st->moved_death_sum / (double)st->deaths : 0,
               100.0 * st->moved_death_max,
               st->deaths ? 100.0 * st->ideal_death_sum / (double)st->deaths : 0,
               st->rejoins ? 100.0 * st->moved_join_sum / (double)st->rejoins : 0,
               st->rejoins ? 100.0 * st->ideal_join_sum / (double)st->rejoins : 0, st->moved_wrong);
        printf("  real deaths detected after: mean %.0f ms, max %.0f ms of silence\n",
               st->detect_n ? ms * (double)st->detect_sum / (double)st->detect_n : 0,
               ms * (double)st->detect_max);
        printf("  false death declarations: %" PRIu64 " = %.1f/h cluster-wide, %.3f/h per "
               "node; formula p^K (1-p) per observer-sender pair and tick: %.1f expected over "
               "the simulated live pairs, %.1f/h for N(N-1) pairs all live\n",
               st->false_deaths, (double)st->false_deaths / hours,
               (double)st->false_deaths / hours / (double)s->n, expected, formula);
        printf("  owner disagreement: %" PRIu64 " address-ticks in %" PRIu64 " episodes, "
               "mean %.0f ms, max %.0f ms\n",
               st->disagree_ticks, st->disagree_episodes,
               st->disagree_episodes
                   ? ms * (double)st->disagree_len_sum / (double)st->disagree_episodes
                   : 0,
               ms * (double)st->disagree_len_max);
        printf("  double-claimed: %" PRIu64 " address-ticks; unclaimed: %" PRIu64
               " address-ticks, longest %.0f ms (includes the dead_after failover gap)\n",
               st->double_ticks, st->unclaimed_ticks, ms * (double)st->unclaimed_len_max);
        printf("  (distinct deviating views in one tick: at most %" PRIu64 "; full rank scans: "
               "%" PRIu64 ")\n\n",
               st->max_groups, st->full_scans);
}

static int checks_failed;

static void check(bool cond, const char *what)
{
        printf("invariant %s: %s\n", what, cond ? "ok" : "FAILED");
        if (!cond)
                checks_failed++;
}

static Stats run_one(const Params *p, bool print)
{
        Sim s;
        double seconds = p->seconds > 0 ? p->seconds : default_seconds(p->nodes);
        Stats st;

        sim_init(&s, p);
        sim_run(&s, (int64_t)(seconds * 1000.0 / p->interval_ms));
        if (print)
                print_block(&s, seconds);
        st = s.st;
        sim_free(&s);
        return st;
}

static void quick(Params p)
{
        Stats a, b;
        double q;
        size_t sizes[] = {10};
        Sim s;
        bool same = true;

        p.nodes = 10;
        p.seconds = 600;
        print_traffic(&p, sizes, 1);

        /* The precomputed rank agrees with rdv_owner() for every address. */
        sim_init(&s, &p);
        for (size_t k = 0; k < s.a; k++)
                same &= (ssize_t)s.top[k * s.R] ==
                        rdv_owner(sim_addr(k), (const char *const *)s.names, NULL, s.n);
        sim_free(&s);
        check(same, "simulated rank[0] equals rdv_owner() for every address");

        p.loss = 0;
        a = run_one(&p, true);
        check(a.deaths > 10 && a.rejoins > 10, "loss 0: more than 10 deaths and rejoins");
        check(a.moved_wrong == 0, "loss 0: only the dead or joining node's addresses move");
        check(a.false_deaths == 0, "loss 0: no false death");
        check(a.disagree_ticks == 0 && a.double_ticks == 0,
              "loss 0: no disagreement, no double claim");
        check(a.detect_n > 0 && a.detect_max == (a.detect_sum / a.detect_n) &&
                  a.detect_max == p.dead_after_ms / p.interval_ms,
              "loss 0: every death detected after exactly dead_after");
        /* Each address a death moves stays unclaimed until the death is seen, K-1 ticks
         * after its first missed heartbeat, and never otherwise. */
        check(a.unclaimed_ticks > 0 &&
                  a.unclaimed_ticks <= a.moved_death_addrs * (p.dead_after_ms / p.interval_ms - 1),
              "loss 0: unclaimed only inside the dead_after gap of a death");
        check(fabs(a.moved_death_sum - a.ideal_death_sum) / a.ideal_death_sum < 0.5,
              "loss 0: moved per death within 50% of 1/N_live on average");

        p.loss = 0.05;
        b = run_one(&p, true);
        check(b.moved_wrong == 0, "loss 0.05: only the dead or joining node's addresses move");
        check(b.disagree_ticks > 0, "loss 0.05: lost heartbeats make views disagree");
        check(b.detect_max <= p.dead_after_ms / p.interval_ms,
              "loss 0.05: no death detected later than dead_after");
        check(b.double_ticks <= b.disagree_ticks,
              "loss 0.05: every double claim is a disagreement");

        /* A loss rate high enough for hundreds of false deaths in 10 minutes, so the count
         * can be held against the formula: within 20% (Poisson noise here is about 4%). */
        p.loss = 0.2;
        b = run_one(&p, true);
        q = pow(p.loss, p.dead_after_ms / p.interval_ms) * (1 - p.loss);
        check(b.false_deaths > 100 &&
                  fabs((double)b.false_deaths - b.pair_ticks * q) < 0.2 * b.pair_ticks * q,
              "loss 0.2: false deaths match p^K (1-p) per live pair and tick within 20%");
}

static void usage(FILE *f)
{
        fprintf(f, "usage: cluster-sim [--nodes N] [--loss P] [--seconds S] [--seed X] "
                   "[--addrs-per-node A]\n"
                   "                   [--interval-ms I] [--dead-after-ms D] "
                   "[--death-every-ms M] [--down-max-ms M] [--quick]\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"nodes", required_argument, NULL, 'n'},
            {"loss", required_argument, NULL, 'l'},
            {"seconds", required_argument, NULL, 's'},
            {"seed", required_argument, NULL, 'S'},
            {"addrs-per-node", required_argument, NULL, 'a'},
            {"interval-ms", required_argument, NULL, 'i'},
            {"dead-after-ms", required_argument, NULL, 'd'},
            {"death-every-ms", required_argument, NULL, 'm'},
            {"down-max-ms", required_argument, NULL, 'D'},
            {"quick", no_argument, NULL, 'q'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        Params p = {
            .addrs_per_node = 10,
            .interval_ms = 100,
            .dead_after_ms = 400,
            .death_every_ms = 10000,
            .down_max_ms = 30000,
            .seed = 1,
        };
        size_t sizes[] = {10, 100, 1000};
        double losses[] = {0, 0.01, 0.05};
        size_t one_size = 0;
        double one_loss = -1;
        bool do_quick = false;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                char *end = NULL;
                unsigned long long v = 0;
                double d = 0;

                if (c == 'l' || c == 's') {
                        d = strtod(optarg, &end);
                } else if (c != 'q' && c != 'h' && c != '?') {
                        errno = 0;
                        v = strtoull(optarg, &end, 0);
                        if (errno)
                                end = optarg;
                }
                if (end && (end == optarg || *end)) {
                        const char *name = "?";
                        for (size_t o = 0; opts[o].name; o++)
                                if (opts[o].val == c)
                                        name = opts[o].name;
                        fprintf(stderr, "cluster-sim: bad number for --%s: %s\n", name, optarg);
                        return 2;
                }
                switch (c) {
                case 'n':
                        one_size = v;
                        break;
                case 'l':
                        one_loss = d;
                        break;
                case 's':
                        p.seconds = d;
                        break;
                case 'S':
                        p.seed = v;
                        break;
                case 'a':
                        p.addrs_per_node = v;
                        break;
                case 'i':
                        p.interval_ms = (unsigned)v;
                        break;
                case 'd':
                        p.dead_after_ms = (unsigned)v;
                        break;
                case 'm':
                        p.death_every_ms = (unsigned)v;
                        break;
                case 'D':
                        p.down_max_ms = (unsigned)v;
                        break;
                case 'q':
                        do_quick = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || (one_size && (one_size < 2 || one_size > 65535)) ||
            (one_loss != -1 && !(one_loss >= 0 && one_loss < 1)) || p.interval_ms == 0 ||
            p.dead_after_ms < p.interval_ms || p.dead_after_ms / p.interval_ms >= NEVER_HEARD ||
            p.down_max_ms < 1000 || p.death_every_ms < p.interval_ms || p.addrs_per_node == 0 ||
            p.seconds < 0) {
                fprintf(stderr, "cluster-sim: bad arguments (nodes 2..65535, 0 <= loss < 1, "
                                "interval_ms <= dead_after_ms < 255 intervals, down_max_ms >= "
                                "1000, death_every_ms >= interval_ms)\n");
                usage(stderr);
                return 2;
        }

        printf("cluster-sim seed=%" PRIu64 " interval=%u ms dead_after=%u ms (K=%u missed "
               "heartbeats) addresses/node=%zu; churn: a death every %.1f s on average "
               "(Poisson), down 1..%.0f s, a rejoining node claims nothing for dead_after\n\n",
               p.seed, p.interval_ms, p.dead_after_ms, p.dead_after_ms / p.interval_ms,
               p.addrs_per_node, p.death_every_ms / 1000.0, p.down_max_ms / 1000.0);

        if (do_quick) {
                quick(p);
                return checks_failed ? 1 : 0;
        }

        if (one_size) {
                sizes[0] = one_size;
        }
        print_traffic(&p, sizes, one_size ? 1 : ELEMENTSOF(sizes));
        for (size_t i = 0; i < (one_size ? 1 : ELEMENTSOF(sizes)); i++)
                for (size_t j = 0; j < (one_loss != -1 ? 1 : ELEMENTSOF(losses)); j++) {
                        p.nodes = sizes[i];
                        p.loss = one_loss != -1 ? one_loss : losses[j];
                        run_one(&p, true);
                }
        return 0;
}
