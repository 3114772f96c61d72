/* SPDX-License-Identifier: MIT */
/*
 * Renders /metrics (see metrics.h). MetalLB's series carry its names with the mlbd_
 * prefix and its labels (spec.md "Metrics"); the rest are mlbd's own. Rendering walks
 * the Services and the owned addresses once: O(Services + addresses) per scrape.
 */
#include <stdio.h>

#include "event-log.h"
#include "manager-private.h"
#include "metrics-counters.h"
#include "metrics.h"

static void head(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *v)
{
        for (; v && *v; v++) {
                if (*v == '\\' || *v == '"')
                        fputc('\\', f);
                if (*v == '\n') {
                        fputs("\\n", f);
                        continue;
                }
                fputc(*v, f);
        }
}

static void count_value(FILE *f, const AddrCount *c)
{
        if (c->overflow)
                fputs("3.402823669209385e+38", f);
        else if (c->n <= UINT64_MAX)
                fprintf(f, "%llu", (unsigned long long)c->n);
        else
                fprintf(f, "%.16e", (double)c->n);
}

typedef struct L2Ctx {
        FILE *f;
        Manager *m;
        const char *keys[64];
} L2Ctx;

static void l2_gratuitous(u128 addr, const AnnStats *st, void *userdata)
{
        L2Ctx *c = userdata;
        char buf[ADDR_STR_MAX];
        fprintf(c->f, "mlbd_layer2_gratuitous_sent{ip=\"%s\"} %llu\n", addr_format(addr, buf),
                (unsigned long long)st->garp_sent);
}

static void l2_requests(u128 addr, const AnnStats *st, void *userdata)
{
        L2Ctx *c = userdata;
        char buf[ADDR_STR_MAX];
        fprintf(c->f, "mlbd_layer2_requests_received{ip=\"%s\"} %llu\n", addr_format(addr, buf),
                (unsigned long long)st->requests);
}

static void l2_responses(u128 addr, const AnnStats *st, void *userdata)
{
        L2Ctx *c = userdata;
        char buf[ADDR_STR_MAX];
        fprintf(c->f, "mlbd_layer2_responses_sent{ip=\"%s\"} %llu\n", addr_format(addr, buf),
                (unsigned long long)st->responses);
}

/* MetalLB's speaker_announced: 1 per (address, Service) this node announces. */
static void announced(u128 addr, const AnnStats *st, void *userdata)
{
        L2Ctx *c = userdata;
        char buf[ADDR_STR_MAX];
        size_t n = alloc_users(c->m->alloc, addr, c->keys, ELEMENTSOF(c->keys));

        addr_format(addr, buf);
        for (size_t i = 0; i < n && i < ELEMENTSOF(c->keys); i++) {
                fprintf(c->f, "mlbd_speaker_announced{ip=\"%s\",node=\"", buf);
                label(c->f, c->m->conf->node_name);
                fputs("\",protocol=\"layer2\",service=\"", c->f);
                label(c->f, c->keys[i]);
                fputs("\"} 1\n", c->f);
        }
}

static void render_allocator(FILE *f, Manager *m)
{
        const PoolSet *ps = m->pools;

        /* MetalLB's names break Prometheus' naming rules (a gauge ending in _total, counters
         * without it), which promtool checks: typed untyped, as the format allows */
        head(f, "mlbd_allocator_addresses_total", "untyped",
             "Addresses a pool can hand out (a gauge; MetalLB's allocator_addresses_total).");
        for (size_t i = 0; i < ps->n_pools; i++) {
                AllocPoolStats st;
                if (alloc_pool_stats(m->alloc, i, &st) < 0)
                        continue;
                fputs("mlbd_allocator_addresses_total{pool=\"", f);
                label(f, ps->pools[i].name);
                fputs("\"} ", f);
                count_value(f, &st.size);
                fputc('\n', f);
        }
        head(f, "mlbd_allocator_addresses_in_use_total", "untyped",
             "Addresses of a pool held by at least one Service (a gauge; MetalLB's "
             "allocator_addresses_in_use_total).");
        for (size_t i = 0; i < ps->n_pools; i++) {
                AllocPoolStats st;
                if (alloc_pool_stats(m->alloc, i, &st) < 0)
                        continue;
                AddrCount used = {.n = st.used};
                fputs("mlbd_allocator_addresses_in_use_total{pool=\"", f);
                label(f, ps->pools[i].name);
                fputs("\"} ", f);
                count_value(f, &used);
                fputc('\n', f);
        }
}

static void render_layer2(FILE *f, Manager *m)
{
        L2Ctx c = {.f = f, .m = m};

        head(f, "mlbd_layer2_gratuitous_sent", "untyped",
             "A counter: gratuitous ARPs / unsolicited NAs sent for an address this node "
             "announces.");
        announcer_foreach_stats(m->announcer, ANN_OWNED, l2_gratuitous, &c);
        head(f, "mlbd_layer2_requests_received", "untyped",
             "A counter: ARP requests / neighbour solicitations received for an address this node "
             "announces.");
        announcer_foreach_stats(m->announcer, ANN_OWNED, l2_requests, &c);
        head(f, "mlbd_layer2_responses_sent", "untyped",
             "A counter: ARP replies / solicited neighbour advertisements this host sent for an "
             "address this node announces.");
        announcer_foreach_stats(m->announcer, ANN_OWNED, l2_responses, &c);
        head(f, "mlbd_speaker_announced", "gauge",
             "1 for each address and Service this node announces.");
        announcer_foreach_stats(m->announcer, ANN_OWNED, announced, &c);
}

static void render_cluster(FILE *f, Manager *m)
{
        const Peers *peers = cluster_peers(m->cluster);
        uint64_t drops[_HB_DROP_MAX];

        head(f, "mlbd_heartbeats_received_total", "counter",
             "Authentic, fresh heartbeats accepted from a peer.");
        for (size_t i = 0; i < peers_count(peers); i++) {
                const PeerInfo *p = peers_get(peers, i);
                fputs("mlbd_heartbeats_received_total{peer=\"", f);
                label(f, p->name);
                fprintf(f, "\"} %llu\n", (unsigned long long)p->received);
        }
        head(f, "mlbd_heartbeats_dropped_total", "counter",
             "Heartbeats dropped, by reason (docs/heartbeat.md).");
        peers_drop_counts(peers, drops);
        for (HbDrop d = 0; d < _HB_DROP_MAX; d++)
                fprintf(f, "mlbd_heartbeats_dropped_total{reason=\"%s\"} %llu\n",
                        hb_drop_to_string(d), (unsigned long long)drops[d]);
        head(f, "mlbd_peer_alive", "gauge", "1 while a peer's heartbeats arrive, else 0.");
        for (size_t i = 0; i < peers_count(peers); i++) {
                const PeerInfo *p = peers_get(peers, i);
                fputs("mlbd_peer_alive{peer=\"", f);
                label(f, p->name);
                fprintf(f, "\"} %d\n", p->alive);
        }
        head(f, "mlbd_peers_alive", "gauge", "Live peers (this node not counted).");
        fprintf(f, "mlbd_peers_alive %zu\n", cluster_peers_alive(m->cluster));
        head(f, "mlbd_peers", "gauge", "Cluster members other than this node.");
        fprintf(f, "mlbd_peers %zu\n", peers_count(peers));
}

static void render_counters(FILE *f)
{
        const MetricsCounters *c = &metrics_counters;
        uint64_t cum = 0;

        head(f, "mlbd_takeovers_total", "counter",
             "Addresses this node took from another node, by cause.");
        for (TakeoverCause k = 0; k < _TAKEOVER_CAUSE_MAX; k++)
                fprintf(f, "mlbd_takeovers_total{cause=\"%s\"} %llu\n", takeover_cause_to_string(k),
                        (unsigned long long)c->takeovers[k]);
        head(f, "mlbd_takeover_latency_seconds", "histogram",
             "From a peer's death being noticed to the first gratuitous ARP / NA for an "
             "address taken from it.");
        for (size_t i = 0; i < TAKEOVER_BUCKETS; i++) {
                cum += c->takeover_latency_buckets[i];
                fprintf(f, "mlbd_takeover_latency_seconds_bucket{le=\"%g\"} %llu\n",
                        takeover_bucket_bounds[i], (unsigned long long)cum);
        }
        fprintf(f, "mlbd_takeover_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)c->takeover_latency_count);
        fprintf(f, "mlbd_takeover_latency_seconds_sum %.6f\n", c->takeover_latency_sum);
        fprintf(f, "mlbd_takeover_latency_seconds_count %llu\n",
                (unsigned long long)c->takeover_latency_count);
        head(f, "mlbd_releases_total", "counter",
             "Addresses this node removed from its interfaces (handed over or unused).");
        fprintf(f, "mlbd_releases_total %llu\n", (unsigned long long)c->releases);
        head(f, "mlbd_probe_conflicts_total", "counter",
             "Conflict probes that found another host using the address.");
        fprintf(f, "mlbd_probe_conflicts_total %llu\n", (unsigned long long)c->probe_conflicts);
        head(f, "mlbd_foreign_claims_total", "counter",
             "ARP / NA claims by another host for an address this node announces.");
        fprintf(f, "mlbd_foreign_claims_total %llu\n", (unsigned long long)c->foreign_claims);
        head(f, "mlbd_config_reloads_total", "counter", "Reloads, by result.");
        fprintf(f, "mlbd_config_reloads_total{result=\"success\"} %llu\n",
                (unsigned long long)c->reloads_ok);
        fprintf(f, "mlbd_config_reloads_total{result=\"failure\"} %llu\n",
                (unsigned long long)c->reloads_failed);
        head(f, "mlbd_config_last_reload_successful", "gauge",
             "1 if the last reload (or the start) applied the configuration, 0 if it was "
             "refused.");
        fprintf(f, "mlbd_config_last_reload_successful %d\n", c->last_reload_ok != 0);
        head(f, "mlbd_config_last_reload_success_timestamp_seconds", "gauge",
             "When the configuration in use was loaded (start or successful reload), Unix "
             "time.");
        fprintf(f, "mlbd_config_last_reload_success_timestamp_seconds %.3f\n",
                (double)c->last_reload_realtime_usec / 1e6);
        head(f, "mlbd_events_total", "counter",
             "Events logged with a MESSAGE_ID (docs/metrics.md), all types.");
        fprintf(f, "mlbd_events_total %llu\n", (unsigned long long)event_log_total());
}

int metrics_render(Manager *m, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0, failed = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;
        head(f, "mlbd_build_info", "gauge", "The version of mlbd running; always 1.");
        fprintf(f, "mlbd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
        head(f, "mlbd_bridges_connected", "gauge",
             "Connections from mlbd-bridge on the control socket (1 when the node's bridge "
             "is up).");
        fprintf(f, "mlbd_bridges_connected %zu\n", m->n_bridges);
        head(f, "mlbd_leader", "gauge",
             "1 while this node's bridge says it is the leader (this node allocates).");
        fprintf(f, "mlbd_leader %d\n", m->leader);
        for (size_t i = 0; i < m->n_svcs; i++) {
                alloc += m->svcs[i].state == SVC_ALLOCATED;
                failed += m->svcs[i].state == SVC_FAILED;
        }
        head(f, "mlbd_services", "gauge", "Services of type LoadBalancer known, by state.");
        fprintf(f, "mlbd_services{state=\"allocated\"} %zu\n", alloc);
        fprintf(f, "mlbd_services{state=\"failed\"} %zu\n", failed);
        fprintf(f, "mlbd_services{state=\"pending\"} %zu\n", m->n_svcs - alloc - failed);
        head(f, "mlbd_addresses_owned", "gauge", "Addresses on this node's interfaces.");
        fprintf(f, "mlbd_addresses_owned %zu\n", announcer_count(m->announcer, ANN_OWNED));
        size_t vetted = 0, avoided = 0;
        for (size_t i = 0; i < m->prevet.n; i++) {
                if (!announcer_has(m->announcer, m->prevet.addrs[i], NULL, NULL))
                        continue;
                vetted += announcer_vet_fresh(m->announcer, m->prevet.addrs[i]);
                avoided += alloc_is_avoided(m->alloc, m->prevet.addrs[i]);
        }
        head(f, "mlbd_prevet_addresses", "gauge",
             "The leader's addresses vetted ahead of demand, by state (docs/cluster.md).");
        fprintf(f, "mlbd_prevet_addresses{state=\"vetted\"} %zu\n", vetted);
        fprintf(f, "mlbd_prevet_addresses{state=\"in_use\"} %zu\n", avoided);
        render_allocator(f, m);
        render_layer2(f, m);
        render_cluster(f, m);
        render_counters(f);
        if (fclose(f) != 0 || !buf)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int handler(const char *path, const char *method, unsigned *status,
                   const char **content_type, char **body, void *userdata)
{
        Manager *m = userdata;

        if (strcmp(path, "/metrics") == 0) {
                *content_type = HTTP_CONTENT_TYPE_PROMETHEUS;
                return metrics_render(m, body);
        }
        if (strcmp(path, "/healthz") == 0) {
                *body = strdup("ok\n");
                return *body ? 0 : -ENOMEM;
        }
        return HTTP_HANDLER_NOT_FOUND;
}

int metrics_server_start(Manager *m)
{
        char listen[HOSTPORT_STR_MAX];
        int r;

        if (!m->conf->metrics_listen.set)
                return 0;
        hostport_format(&m->conf->metrics_listen, listen, sizeof(listen));
        r = http_server_new(&m->metrics, m->event, listen, handler, m);
        if (r < 0)
                return log_error_errno(r, "[metrics] listen = %s: cannot serve metrics there: %m",
                                       listen);
        log_info("Metrics on http://%s/metrics", http_server_get_address(m->metrics));
        return 0;
}
