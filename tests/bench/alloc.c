/* SPDX-License-Identifier: MIT */
/*
 * Allocator benchmark: the same churn workload against an IPv6 /64 and an IPv4 /16.
 * 100,000 allocation calls per pool; at most 60,000 Services alive (a /16 holds 65,536
 * addresses), past that the oldest is released before each new allocation. Only the
 * alloc_service() calls are timed (CLOCK_MONOTONIC). The whole thing runs 3 times and the
 * median run (by ratio) is reported; the last line is `ratio /64:/16 = R`.
 *
 * Usage: tests/bench/alloc [allocations [alive [runs]]]
 */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "../unit/test-alloc.h"

typedef struct Figures {
        double total_ms;
        uint64_t median_ns, p95_ns;
} Figures;

typedef struct Run {
        Figures v6, v4;
        double ratio;
} Run;

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static int cmp_run(const void *a, const void *b)
{
        double x = ((const Run *)a)->ratio, y = ((const Run *)b)->ratio;
        return x < y ? -1 : x > y;
}

static int churn(const char *range, int family, unsigned n, unsigned alive, uint64_t *ns,
                 Figures *ret)
{
        PoolSet *s = tset_new();
        Allocator *a = NULL;
        char key[32];
        unsigned oldest = 0;
        int r;

        tset_add(s, "bench", (const char *[]){range, NULL});
        r = allocator_new(&a, s);
        if (r < 0)
                goto out;
        for (unsigned i = 0; i < n; i++) {
                TReq t;
                AllocResult res;

                if (i - oldest >= alive) {
                        snprintf(key, sizeof(key), "bench/svc%u", oldest++);
                        if (alloc_release(a, key) != 1) {
                                r = -ESRCH;
                                goto out;
                        }
                }
                snprintf(key, sizeof(key), "bench/svc%u", i);
                treq_init(&t, key);
                t.r.families[0] = family;
                treq_port(&t, IPPROTO_TCP, 443);
                uint64_t t0 = now_ns();
                r = alloc_service(a, &t.r, &res);
                ns[i] = now_ns() - t0;
                if (r != 0) {
                        fprintf(stderr, "allocation %u in %s failed: %d %s\n", i, range, r,
                                res.reason);
                        r = r < 0 ? r : -ENOSPC;
                        goto out;
                }
        }
        uint64_t total = 0;
        for (unsigned i = 0; i < n; i++)
                total += ns[i];
        qsort(ns, n, sizeof(*ns), cmp_u64);
        *ret = (Figures){
            .total_ms = (double)total / 1e6,
            .median_ns = ns[n / 2],
            .p95_ns = ns[(size_t)((double)n * 0.95)],
        };
        r = 0;
out:
        allocator_free(a);
        tset_free(s);
        return r;
}

static void print_figures(const char *name, const Figures *f)
{
        printf("%-16s total %9.2f ms  median %6llu ns  p95 %6llu ns\n", name, f->total_ms,
               (unsigned long long)f->median_ns, (unsigned long long)f->p95_ns);
}

int main(int argc, char **argv)
{
        unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
        unsigned alive = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 60000;
        unsigned runs = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 3;
        Run run[16];

        if (n == 0 || alive == 0 || alive > 65536 || runs == 0 || runs > ELEMENTSOF(run)) {
                fprintf(stderr, "usage: %s [allocations [alive (<= 65536) [runs (<= 16)]]]\n",
                        argv[0]);
                return 2;
        }
        uint64_t *ns = calloc(n, sizeof(*ns));
        if (!ns)
                return 1;
        printf("allocator churn: %u allocations per pool, at most %u alive, %u runs\n", n, alive,
               runs);
        for (unsigned k = 0; k < runs; k++) {
                int r = churn("2001:db8:1::/64", AF_INET6, n, alive, ns, &run[k].v6);
                if (r == 0)
                        r = churn("198.18.0.0/16", AF_INET, n, alive, ns, &run[k].v4);
                if (r < 0) {
                        fprintf(stderr, "run %u failed: %s\n", k + 1, strerror(-r));
                        return 1;
                }
                run[k].ratio = (double)run[k].v6.median_ns / (double)run[k].v4.median_ns;
                printf("run %u: /64 median %llu ns, /16 median %llu ns, ratio %.2f\n", k + 1,
                       (unsigned long long)run[k].v6.median_ns,
                       (unsigned long long)run[k].v4.median_ns, run[k].ratio);
        }
        qsort(run, runs, sizeof(*run), cmp_run);
        const Run *m = &run[runs / 2];
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("median run:\n");
        print_figures("2001:db8:1::/64", &m->v6);
        print_figures("198.18.0.0/16", &m->v4);
        printf("peak RSS %ld KiB\n", ru.ru_maxrss);
        printf("ratio /64:/16 = %.2f\n", m->ratio);
        free(ns);
        return 0;
}
