/* SPDX-License-Identifier: MIT */
/*
 * Reconcile benchmark: one manager_reconcile() over a large model, timed.
 *
 * The real Manager (libmlbd-core: model, allocator, reconcile, announcer, netlink, cluster)
 * runs in a network namespace of its own (unshare(CLONE_NEWNET), so root): one dummy
 * interface, a lone node (peers = itself), one IPv6 pool 2001:db8:1::/112 (FAMILY 4: one IPv4
 * pool 198.18.0.0/16, the RFC 2544 benchmarking block, in the namespace only). The model is
 * filled directly, as a full sync would leave it: SERVICES LoadBalancer Services, each
 * carrying its address in status.loadBalancer.ingress (the steady state of a cluster:
 * Services keep what they were given), externalTrafficPolicy Cluster, single-stack IPv6.
 * SHARED of them share addresses: one sharing key (allow-shared-ip) and one address per
 * group of GROUP Services, each with PORTS ports of its own (distinct within the group;
 * past TCP's 65,535 ports, UDP then SCTP). The others are alone on their address with 2
 * TCP ports (80, 443).
 *
 * Timed (CLOCK_MONOTONIC): the first reconcile (every Service adopted, every address added
 * to the interface and announced: netlink requests included), then RUNS reconciles with
 * nothing changed (what every upsert, EndpointSlice change or status request costs), the
 * event loop run between them. Prints the first (wall time, and the CPU time of this process
 * in user space and in the kernel: an IPv6 address add costs the kernel O(multicast groups
 * of the interface), see docs/benchmarks.md), then the median and the p95 (nearest rank).
 * Then RUNS renderings of /metrics (metrics_render(), what a scrape costs), median and p95.
 *
 * Usage: tests/bench/reconcile [services [shared [group [ports [runs [family]]]]]]
 *        defaults 10000 3000 100 16 20 6
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "heartbeat.h"
#include "manager-private.h"
#include "metrics.h"

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t tv_ns(const struct timeval *tv)
{
        return (uint64_t)tv->tv_sec * 1000000000u + (uint64_t)tv->tv_usec * 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static int write_file(const char *dir, const char *name, const char *text)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        fputs(text, f);
        return fclose(f) == 0 ? 0 : -errno;
}

/* Service i; its address and ports by the layout in the comment at the top. */
static Service *make_service(unsigned i, unsigned shared, unsigned group, unsigned ports, bool v4)
{
        /* 2001:db8:1:: or 198.18.0.0 */
        const u128 base = v4 ? addr_from_v4(0xc6120000u) : ((u128)0x20010db800010000ULL << 64);
        Service *s = obj_new(OBJ_SERVICE);
        char name[32];
        bool sharing = i < shared;

        snprintf(name, sizeof(name), "svc-%u", i);
        if (!s || obj_set_name(&s->meta, "bench", name) < 0)
                return NULL;
        snprintf(name, sizeof(name), "uid-%u", i);
        if (!(s->meta.uid = strdup(name)))
                return NULL;
        s->type = SERVICE_LOAD_BALANCER;
        s->ip_families[0] = v4 ? AF_INET : AF_INET6;
        s->n_ip_families = 1;
        s->n_ports = sharing ? ports : 2;
        s->ports = calloc(s->n_ports, sizeof(ServicePort));
        s->ingress = calloc(1, sizeof(u128));
        if (!s->ports || !s->ingress)
                return NULL;
        s->n_ingress = 1;
        if (sharing) {
                unsigned g = i / group, j = i % group;
                snprintf(name, sizeof(name), "group-%u", g);
                if (labels_set(&s->meta.annotations, ANNOTATION_SHARED_METALLB, name) < 0)
                        return NULL;
                for (unsigned k = 0; k < ports; k++) {
                        unsigned idx = j * ports + k;
                        s->ports[k].protocol = (PortProtocol)(idx / 65535);
                        s->ports[k].port = (uint16_t)(idx % 65535 + 1);
                }
                s->ingress[0] = base + 16 + g;
        } else {
                s->ports[0] = (ServicePort){.protocol = PROTO_TCP, .port = 80};
                s->ports[1] = (ServicePort){.protocol = PROTO_TCP, .port = 443};
                s->ingress[0] = base + 0x8000 + (i - shared);
        }
        return s;
}

static void run_loop(Manager *m, uint64_t usec)
{
        uint64_t end = now_ns() + usec * 1000;
        while (now_ns() < end)
                (void)sd_event_run(m->event, 10 * 1000);
}

int main(int argc, char **argv)
{
        unsigned services = argc > 1 ? (unsigned)atoi(argv[1]) : 10000;
        unsigned shared = argc > 2 ? (unsigned)atoi(argv[2]) : 3000;
        unsigned group = argc > 3 ? (unsigned)atoi(argv[3]) : 100;
        unsigned ports = argc > 4 ? (unsigned)atoi(argv[4]) : 16;
        unsigned runs = argc > 5 ? (unsigned)atoi(argv[5]) : 20;
        unsigned family = argc > 6 ? (unsigned)atoi(argv[6]) : 6;
        bool v4 = family == 4;
        struct rusage ru0, ru1;
        char dir[] = "/tmp/mlbd-bench-XXXXXX", text[2048], path[64];
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *error = NULL;
        int r, rc = 1;

        if (shared > services || group == 0 || ports == 0 || ports > 64 || runs == 0 ||
            (family != 4 && family != 6) || group * ports > 3 * 65535 ||
            services - shared > 0x7fff || shared / group > 0x7ff0) {
                fprintf(stderr,
                        "usage: %s [services [shared [group [ports [runs [4|6]]]]]]\n"
                        "  group * ports <= 196605, ports <= 64\n",
                        argv[0]);
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "%s: needs root (it runs in a network namespace of its own)\n",
                        argv[0]);
                return 77;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                perror("unshare(CLONE_NEWNET)");
                return 1;
        }
        if (system("ip link set lo up && ip link add bench0 type veth peer name bench1 && "
                   "ip link set bench1 up && "
                   "ip link set bench0 up && ip -6 addr add 2001:db8::1/32 dev bench0 nodad && "
                   "ip addr add 198.19.0.1/15 dev bench0") != 0) {
                fprintf(stderr, "cannot set up the dummy interface\n");
                return 1;
        }
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        snprintf(path, sizeof(path), "%s/cluster.key", dir);
        if (hb_key_generate(path, &error) < 0) {
                fprintf(stderr, "%s\n", error ? error : "cannot make a key");
                goto out;
        }
        snprintf(text, sizeof(text),
                 "[mlbd]\nnode_name = bench\npools = %s/pools.yaml\nsocket = %s/mlbd.sock\n"
                 "socket_group = root\nstate_dir = %s\nlog_level = warning\n\n"
                 "[cluster]\nlisten = 0.0.0.0:7947\npeers = bench=192.0.2.254\nkey_file = "
                 "%s/cluster.key\n\n[metrics]\nlisten =\n",
                 dir, dir, dir, dir);
        if (write_file(dir, "mlbd.conf", text) < 0 ||
            write_file(dir, "pools.yaml",
                       v4 ? "pools:\n  - name: bench\n    addresses: [\"198.18.0.0/16\"]\n"
                          : "pools:\n  - name: bench\n    addresses: [\"2001:db8:1::/112\"]\n") <
                0) {
                perror("write");
                goto out;
        }
        snprintf(path, sizeof(path), "%s/mlbd.conf", dir);
        r = manager_new(&m, path);
        if (r < 0)
                goto out;
        for (unsigned i = 0; i < 500 && !cluster_settled(m->cluster); i++)
                run_loop(m, 10 * 1000);
        if (!cluster_settled(m->cluster)) {
                fprintf(stderr, "the lone node did not settle\n");
                goto out;
        }
        for (unsigned i = 0; i < services; i++) {
                Service *s = make_service(i, shared, group, ports, v4);
                if (!s || model_upsert(m->model, s) < 0) {
                        fprintf(stderr, "out of memory\n");
                        goto out;
                }
        }
        m->synced = true; /* as after the first full sync */
        m->leader = true;

        (void)getrusage(RUSAGE_SELF, &ru0);
        uint64_t t0 = now_ns();
        manager_reconcile(NULL, m);
        uint64_t first = now_ns() - t0;
        (void)getrusage(RUSAGE_SELF, &ru1);
        size_t want = (services - shared) + (shared + group - 1) / group;
        for (unsigned i = 0; i < 1000 && announcer_count(m->announcer, ANN_OWNED) < want; i++)
                run_loop(m, 10 * 1000);
        run_loop(m, 300 * 1000);
        size_t owned = announcer_count(m->announcer, ANN_OWNED);

        uint64_t *ns = calloc(runs, sizeof(uint64_t));
        if (!ns)
                goto out;
        for (unsigned k = 0; k < runs; k++) {
                t0 = now_ns();
                manager_reconcile(NULL, m);
                ns[k] = now_ns() - t0;
                run_loop(m, 20 * 1000);
        }
        qsort(ns, runs, sizeof(*ns), cmp_u64);
        printf("reconcile: %u Services (%u sharing: %u per sharing key, %u ports each), IPv%u, "
               "%zu of %zu addresses owned\n",
               services, shared, group, ports, family, owned, want);
        printf("first reconcile (adopt all, add %zu addresses) %10.2f ms (cpu: user %.2f ms, "
               "kernel %.2f ms)\n",
               want, first / 1e6, (tv_ns(&ru1.ru_utime) - tv_ns(&ru0.ru_utime)) / 1e6,
               (tv_ns(&ru1.ru_stime) - tv_ns(&ru0.ru_stime)) / 1e6);
        printf("reconcile, nothing changed (%u runs)      %10.2f ms median %10.2f ms p95\n", runs,
               ns[(runs - 1) / 2] / 1e6, ns[(runs * 95 + 99) / 100 - 1] / 1e6);
        /* /metrics over the same state: what each Prometheus scrape costs */
        size_t bytes = 0, series = 0;
        for (unsigned k = 0; k < runs; k++) {
                _cleanup_free_ char *body = NULL;
                t0 = now_ns();
                r = metrics_render(m, &body);
                ns[k] = now_ns() - t0;
                if (r < 0)
                        goto out;
                bytes = strlen(body);
                series = 0;
                for (const char *p = body; *p; p = strchr(p, '\n') + 1) {
                        series += *p != '#';
                        if (!strchr(p, '\n'))
                                break;
                }
        }
        qsort(ns, runs, sizeof(*ns), cmp_u64);
        printf("/metrics render (%zu series, %zu bytes, %u runs) %10.2f ms median %10.2f ms p95\n",
               series, bytes, runs, ns[(runs - 1) / 2] / 1e6, ns[(runs * 95 + 99) / 100 - 1] / 1e6);
        free(ns);
        rc = owned == want ? 0 : 1;
out:
        m = manager_free(m);
        snprintf(text, sizeof(text), "rm -rf '%s'", dir);
        if (system(text) != 0)
                fprintf(stderr, "reconcile: could not remove %s\n", dir);
        return rc;
}
