/* SPDX-License-Identifier: MIT */
/* This node's view of the cluster: members, liveness, incarnation, leaving; see cluster.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "heartbeat.h"
#include "util/fileio.h"
#include "util/log.h"

struct Cluster {
        sd_event *event;
        Peers *peers;
        char *self;
        bool static_members; /* `peers =` was set; otherwise members come from Nodes */
        uint16_t port;
        uint64_t incarnation;
        bool settled, leaving;
        /* who the members are is known: `peers =`, or the first full sync brought the
         * Nodes; settling waits for it (a node that settled alone would take and probe
         * every address its peers hold) */
        bool members_known;
        uint64_t settle_usec; /* dead_after + one interval */
        sd_event_source *settle_timer;
        char *node_members;   /* the Node-derived list last applied, to skip no-op updates */
        char *unusable_nodes; /* "a,b,": Nodes warned about (no reachable address) */
        const char **names;
        bool *live;
        OwnerView view;
        bool view_dirty;      /* liveness, leaving or members changed since the view */
        uint64_t members_gen; /* model generation the Node-derived members came from */
        bool members_gen_valid;
        void (*changed)(void *userdata);
        void *userdata;
};

/* max(now in µs, last + 1), remembered in state_dir so a restart is always newer. The
 * state_dir is made if missing and must be ours (or root's) and writable by nobody else:
 * whoever can write there can make this node replay-vulnerable or restore another node's
 * addresses. Failing to remember the incarnation is fatal: a restart could reuse it. */
static int next_incarnation(const char *state_dir, uint64_t *ret)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        struct timespec ts;
        struct stat st;
        uint64_t inc, last = 0;
        size_t len;
        char text[32];
        int r;

        clock_gettime(CLOCK_REALTIME, &ts);
        inc = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
        if (asprintf(&path, "%s/incarnation", state_dir) < 0)
                return log_oom();
        if (mkdir(state_dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "Cannot make state_dir %s: %m", state_dir);
        r = check_private_dir(state_dir, geteuid(), &st);
        if (r == -EPERM)
                return log_error_errno(r,
                                       "state_dir %s is owned by uid %u, not by mlbd's user (uid "
                                       "%u) or root; refusing to use it",
                                       state_dir, (unsigned)st.st_uid, (unsigned)geteuid());
        if (r == -EACCES)
                return log_error_errno(r,
                                       "state_dir %s is writable by group or others (mode %04o); "
                                       "refusing to use it (chmod 0750 %s)",
                                       state_dir, (unsigned)(st.st_mode & 07777), state_dir);
        if (r < 0)
                return log_error_errno(r, "state_dir %s: %m", state_dir);
        if (read_full_file(path, &buf, &len) >= 0 && sscanf(buf, "%" SCNu64, &last) == 1 &&
            last >= inc)
                inc = last + 1;
        int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", inc);
        r = write_file_atomic(path, text, (size_t)n, 0600);
        if (r < 0)
                return log_error_errno(r,
                                       "Cannot write %s: %m; without it a restart could reuse "
                                       "this incarnation",
                                       path);
        *ret = inc;
        return 0;
}

static void peers_changed(void *userdata)
{
        Cluster *c = userdata;
        bool all = peers_count(c->peers) > 0;

        c->view_dirty = true;
        for (size_t i = 0; i < peers_count(c->peers); i++)
                all &= peers_get(c->peers, i)->alive;
        if (!c->settled && c->members_known && all) {
                c->settled = true;
                log_info("cluster: every member heard from");
        }
        c->changed(c->userdata);
}

static int settle_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        Cluster *c = userdata;

        if (!c->settled && c->members_known) {
                c->settled = true;
                log_info("cluster: settled; %zu of %zu peers alive", cluster_peers_alive(c),
                         peers_count(c->peers));
                c->changed(c->userdata);
        }
        return 0;
}

static int set_members(Cluster *c, const Peer *list, size_t n)
{
        PeerAddr *pa = calloc(n + 1, sizeof(PeerAddr));
        size_t k = 0;
        int r;

        if (!pa)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (strcmp(list[i].name, c->self) == 0)
                        continue;
                pa[k].name = list[i].name;
                addr_to_sockaddr(list[i].addr, c->port, &pa[k].addr);
                k++;
        }
        r = peers_set_members(c->peers, pa, k);
        free(pa);
        c->view_dirty = true; /* member pointers change */
        if (k == 0 && !c->settled)
                settle_fired(NULL, 0, c);
        return r;
}

void cluster_members_known(Cluster *c)
{
        if (c->members_known)
                return;
        c->members_known = true;
        if (c->settled)
                return;
        if (peers_count(c->peers) == 0) {
                settle_fired(NULL, 0, c);
                return;
        }
        log_info("cluster: %zu members known; settling", peers_count(c->peers));
        (void)sd_event_source_set_time_relative(c->settle_timer, c->settle_usec);
        (void)sd_event_source_set_enabled(c->settle_timer, SD_EVENT_ONESHOT);
        peers_changed(c); /* every member may have been heard already */
}

bool cluster_waiting_for_members(const Cluster *c)
{
        return !c->members_known;
}

int cluster_new(Cluster **ret, sd_event *e, const Conf *conf, void (*changed)(void *userdata),
                void *userdata)
{
        _cleanup_(cluster_freep) Cluster *c = calloc(1, sizeof(Cluster));
        _cleanup_free_ char *error = NULL;
        PeersSettings ps = {0};
        int r;

        if (!c || !(c->self = strdup(conf->node_name)))
                return log_oom();
        c->event = sd_event_ref(e);
        c->changed = changed;
        c->userdata = userdata;
        c->port = conf->cluster_listen.port;
        c->static_members = conf->n_peers > 0;
        c->members_known = c->static_members;
        r = hb_key_load(conf->key_file, ps.key, &error);
        if (r < 0)
                return log_error_errno(r, "Cluster key: %s (make one with mlbd --gen-key)",
                                       error ? error : conf->key_file);
        if (r == HB_KEY_LOOSE_MODE)
                log_warning("%s", error);
        r = next_incarnation(conf->state_dir, &c->incarnation);
        if (r < 0)
                return r;
        ps.self_name = conf->node_name;
        ps.listen = conf->cluster_listen;
        ps.interval_usec = (uint64_t)conf->heartbeat_interval_ms * 1000;
        ps.dead_after_usec = (uint64_t)conf->dead_after_ms * 1000;
        ps.incarnation = c->incarnation;
        ps.state_dir = conf->state_dir;
        r = peers_new(&c->peers, e, &ps, peers_changed, c);
        sodium_memzero(ps.key, sizeof(ps.key));
        if (r < 0)
                return log_error_errno(r, "Cannot listen for heartbeats: %m");
        c->settle_usec = ps.dead_after_usec + ps.interval_usec;
        r = sd_event_add_time_relative(e, &c->settle_timer, CLOCK_MONOTONIC, c->settle_usec, 1000,
                                       settle_fired, c);
        if (r < 0)
                return log_oom();
        if (!c->members_known) {
                (void)sd_event_source_set_enabled(c->settle_timer, SD_EVENT_OFF);
                log_info("cluster: no peers = list; waiting for the Nodes of the first full "
                         "sync before taking addresses");
        }
        r = set_members(c, conf->peers, conf->n_peers);
        if (r < 0)
                return log_oom();
        *ret = TAKE_PTR(c);
        return 0;
}

Cluster *cluster_free(Cluster *c)
{
        if (!c)
                return NULL;
        peers_free(c->peers);
        sd_event_source_disable_unref(c->settle_timer);
        sd_event_unref(c->event);
        free(c->self);
        free(c->node_members);
        free(c->unusable_nodes);
        free(c->names);
        free(c->live);
        free(c);
        return NULL;
}

int cluster_reconfigure(Cluster *c, const Conf *conf)
{
        int r;

        c->static_members = conf->n_peers > 0;
        free(c->node_members);
        c->node_members = NULL;
        c->members_gen_valid = false;
        c->settle_usec = ((uint64_t)conf->dead_after_ms + conf->heartbeat_interval_ms) * 1000;
        peers_set_timing(c->peers, (uint64_t)conf->heartbeat_interval_ms * 1000,
                         (uint64_t)conf->dead_after_ms * 1000);
        if (!c->static_members)
                return 0;
        r = set_members(c, conf->peers, conf->n_peers);
        cluster_members_known(c);
        return r;
}

bool cluster_set_key(Cluster *c, const uint8_t key[static HB_KEY_SIZE])
{
        return peers_set_key(c->peers, key);
}

/* The Node's first InternalIP our heartbeat socket can reach (else any address of that
 * kind that parses): an IPv4 socket cannot send to an IPv6 InternalIP listed first. */
static bool node_address(const Cluster *c, const Node *n, u128 *ret)
{
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n->n_addresses; i++)
                        if ((pass == 1 || strcmp(n->addresses[i].type, "InternalIP") == 0) &&
                            addr_parse(n->addresses[i].address, ret) &&
                            peers_can_reach(c->peers, *ret))
                                return true;
        return false;
}

/* Whether name is in the comma-terminated list ("a,b,"). */
static bool in_list(const char *list, const char *name)
{
        size_t len = strlen(name);

        for (const char *p = list; p && *p;) {
                const char *comma = strchr(p, ',');
                if (!comma)
                        break;
                if ((size_t)(comma - p) == len && memcmp(p, name, len) == 0)
                        return true;
                p = comma + 1;
        }
        return false;
}

void cluster_update_members(Cluster *c, const Model *model)
{
        _cleanup_free_ const void **list = NULL;
        _cleanup_free_ Peer *members = NULL;
        _cleanup_free_ char *sig = NULL, *unusable = NULL;
        size_t n = 0, k = 0, len = 0, ulen = 0;
        FILE *f, *uf;

        if (c->static_members || (c->members_gen_valid && model->generation == c->members_gen))
                return; /* the Nodes cannot have changed */
        c->members_gen = model->generation;
        c->members_gen_valid = true;
        if (model_list_sorted(model, OBJ_NODE, &list, &n) < 0)
                return;
        members = calloc(n + 1, sizeof(Peer));
        f = open_memstream(&sig, &len);
        uf = open_memstream(&unusable, &ulen);
        if (!members || !f || !uf) {
                if (f)
                        fclose(f);
                if (uf)
                        fclose(uf);
                return (void)log_oom();
        }
        for (size_t i = 0; i < n; i++) {
                const Node *node = list[i];
                u128 a;
                char buf[ADDR_STR_MAX];
                if (!node_address(c, node, &a)) {
                        if (strcmp(node->meta.name, c->self) == 0)
                                continue;
                        fprintf(uf, "%s,", node->meta.name);
                        /* once while it lasts: every sync would repeat it otherwise */
                        if (!in_list(c->unusable_nodes, node->meta.name)) {
                                char have[256] = "none";
                                for (size_t j = 0, o = 0; j < node->n_addresses && o < sizeof(have);
                                     j++)
                                        o += (size_t)snprintf(have + o, sizeof(have) - o, "%s%s",
                                                              j ? ", " : "",
                                                              node->addresses[j].address);
                                log_warning("cluster: Node %s has no address the heartbeat socket "
                                            "(%s) can reach (it has: %s); it is not a member, so "
                                            "this node cannot hear it. Set [cluster] listen to "
                                            "[::] or to its address family",
                                            node->meta.name, peers_family_name(c->peers), have);
                        }
                        continue;
                }
                members[k++] = (Peer){node->meta.name, a};
                fprintf(f, "%s=%s,", node->meta.name, addr_format(a, buf));
        }
        fclose(f);
        fclose(uf);
        free(c->unusable_nodes);
        c->unusable_nodes = TAKE_PTR(unusable);
        if (c->node_members && sig && strcmp(c->node_members, sig) == 0)
                return;
        free(c->node_members);
        c->node_members = TAKE_PTR(sig);
        if (set_members(c, members, k) < 0)
                log_oom();
}

const OwnerView *cluster_view(Cluster *c)
{
        size_t n = peers_count(c->peers) + 1;

        if (!c->view_dirty && c->view.n == n)
                return &c->view; /* decide() asks once per address: rebuild only on change */
        c->view_dirty = false;
        const char **names = realloc(c->names, n * sizeof(char *));
        bool *live = names ? realloc(c->live, n * sizeof(bool)) : NULL;

        if (names)
                c->names = names;
        if (live)
                c->live = live;
        if (!names || !live) {
                n = 1; /* out of memory: this node alone */
                if (!c->names || !c->live) {
                        c->view = (OwnerView){0};
                        return &c->view;
                }
        }
        c->names[0] = c->self;
        /* while another node has our name, own nothing (peers.h) */
        c->live[0] = !c->leaving && !peers_name_clash(c->peers, NULL);
        for (size_t i = 1; i < n; i++) {
                const PeerInfo *p = peers_get(c->peers, i - 1);
                c->names[i] = p->name;
                c->live[i] = p->alive && !p->leaving;
        }
        c->view = (OwnerView){.names = c->names, .live = c->live, .n = n};
        return &c->view;
}

bool cluster_settled(const Cluster *c)
{
        return c->settled;
}

bool cluster_node_holds(const Cluster *c, size_t index, u128 addr)
{
        const PeerInfo *p =
            index > 0 && index <= peers_count(c->peers) ? peers_get(c->peers, index - 1) : NULL;
        return p && p->alive && peer_holds(p, addr);
}

bool cluster_peer_holds(const Cluster *c, u128 addr)
{
        for (size_t i = 0; i < peers_count(c->peers); i++) {
                const PeerInfo *p = peers_get(c->peers, i);
                if (p->alive && peer_holds(p, addr))
                        return true;
        }
        return false;
}

const PeerInfo *cluster_holder(const Cluster *c, u128 addr)
{
        const PeerInfo *dead = NULL;

        for (size_t i = 0; i < peers_count(c->peers); i++) {
                const PeerInfo *p = peers_get(c->peers, i);
                if (!peer_holds(p, addr))
                        continue;
                if (p->alive)
                        return p;
                if (!dead || p->dead_since_usec > dead->dead_since_usec)
                        dead = p;
        }
        return dead;
}

size_t cluster_peers_alive(const Cluster *c)
{
        size_t n = 0;

        for (size_t i = 0; i < peers_count(c->peers); i++) {
                const PeerInfo *p = peers_get(c->peers, i);
                n += p->alive && !p->leaving;
        }
        return n;
}

void cluster_set_owned(Cluster *c, const u128 *sorted, size_t n)
{
        peers_set_owned(c->peers, sorted, n);
}

void cluster_set_leaving(Cluster *c)
{
        c->leaving = true;
        c->view_dirty = true;
        peers_set_leaving(c->peers, true);
}

const Peers *cluster_peers(const Cluster *c)
{
        return c->peers;
}

uint64_t cluster_incarnation(const Cluster *c)
{
        return c->incarnation;
}
