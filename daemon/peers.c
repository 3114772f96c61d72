/* SPDX-License-Identifier: MIT */
/*
 * Membership and liveness over authenticated UDP heartbeats (see peers.h). The socket is
 * non-blocking and drained at most RECV_BATCH datagrams per wakeup, so a flood delays the
 * loop by a bounded amount; the level-triggered io source brings us back for the rest.
 * A datagram whose source address is no member's is dropped before its tag is computed
 * (a binary search in member_addrs), so a flood from elsewhere costs no HMAC.
 * A peer was last seen when its heartbeat reached this host (the kernel's receive time,
 * SO_TIMESTAMPNS), not when the loop got to it: behind a flood a heartbeat may wait in
 * the socket's queue for hundreds of milliseconds, and a dead peer must not live on for
 * that long (docs/cluster.md "Liveness").
 *
 * With a state_dir, the last accepted (incarnation, sequence) of each peer is kept in
 * state_dir/peers-seen ("NAME INCARNATION SEQUENCE" lines), written from a timer at most
 * every SEEN_SAVE_USEC after something was accepted, and at peers_free(); after a restart
 * a member's first heartbeat must be newer than that pair, so a dead node's captured
 * heartbeats cannot bring it back. The packet path only marks the table dirty.
 *
 * Name clash: an authentic heartbeat carrying our own name but another incarnation comes
 * from another node using our name (a cloned machine). While such heartbeats keep coming
 * (each newer than the last, so a replay cannot prolong it; it ends dead_after after the
 * last one) we are "leaving" and claim nothing in our heartbeats, and peers_name_clash()
 * tells the cluster to own nothing. Our own name from a non-member address is the one
 * exception to the drop before the tag: at most SELF_BUDGET_BURST such tags per
 * SELF_BUDGET_USEC are computed, so a flood naming us costs a bounded number of HMACs.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "event-log.h"
#include "peers.h"
#include "util/fileio.h"
#include "util/log.h"

#define RECV_BATCH 64
#define TIMER_ACCURACY_USEC 1000 /* never sd-event's 250 ms default: it would add to failover */
#define LOG_RATE_INTERVAL_USEC (10 * 1000000ULL)
#define LOG_RATE_BURST 10
#define SELF_BUDGET_USEC 1000000ULL
#define SELF_BUDGET_BURST 50
#define SEEN_FILE "peers-seen"
#define SEEN_SAVE_USEC (2 * 1000000ULL)
#define SEEN_MAX 65536 /* entries kept from the file, so a huge one cannot eat memory */

typedef struct RateLimit {
        uint64_t begin;
        unsigned n;
        uint64_t suppressed;
} RateLimit;

/* The last accepted pair of a node, from the file or from a save. */
typedef struct Seen {
        char *name;
        uint64_t incarnation, sequence;
} Seen;

typedef struct Member {
        PeerInfo info;
        /* floor from peers-seen: the first heartbeat must be newer (has_floor) */
        uint64_t floor_incarnation, floor_sequence;
        bool has_floor;
        Peers *peers;
        PeerSockaddr dest;
        socklen_t dest_len;
        sd_event_source *death;
        RateLimit send_log;
        bool keep; /* scratch for peers_set_members() */
} Member;

struct Peers {
        sd_event *event;
        sd_event_source *io, *timer;
        int fd;
        int family;
        bool dual; /* AF_INET6 bound to :: with V6ONLY off: IPv4 peers too */
        uint16_t port;
        char *self;
        uint8_t key[HB_KEY_SIZE];
        uint64_t interval_usec, dead_after_usec, incarnation, sequence;
        bool leaving;
        u128 *owned;
        size_t n_owned;
        Member **members; /* sorted by name */
        size_t n_members;
        u128 *member_addrs; /* the members' addresses, sorted, unique */
        size_t n_member_addrs;
        uint64_t drops[_HB_DROP_MAX];
        uint64_t sent;
        RateLimit drop_log;
        RateLimit self_budget; /* tags computed for our name from non-member addresses */
        bool clash;            /* another node uses our name (see the top comment) */
        bool clash_seen;       /* clash_incarnation/sequence hold a pair */
        uint64_t clash_incarnation, clash_sequence;
        char clash_address[ADDR_STR_MAX];
        sd_event_source *clash_timer;
        char *seen_path; /* NULL: nothing persisted */
        Seen *seen;      /* sorted by name */
        size_t n_seen, cap_seen;
        bool seen_dirty;
        sd_event_source *seen_timer;
        uint8_t *tx, *rx;
        void (*changed)(void *userdata);
        void *userdata;
};

static bool budget_ok(RateLimit *rl, uint64_t now, uint64_t interval, unsigned burst)
{
        if (rl->begin == 0 || now >= rl->begin + interval) {
                rl->begin = now;
                rl->n = 0;
        }
        if (rl->n < burst) {
                rl->n++;
                return true;
        }
        rl->suppressed++;
        return false;
}

static bool ratelimit_ok(RateLimit *rl, uint64_t now)
{
        return budget_ok(rl, now, LOG_RATE_INTERVAL_USEC, LOG_RATE_BURST);
}

static uint64_t now_usec(Peers *p)
{
        uint64_t t = 0;

        (void)sd_event_now(p->event, CLOCK_MONOTONIC, &t);
        return t;
}

void addr_to_sockaddr(u128 addr, uint16_t port, PeerSockaddr *ret)
{
        *ret = (PeerSockaddr){0};
        if (addr_is_v4(addr)) {
                ret->in.sin_family = AF_INET;
                ret->in.sin_port = htons(port);
                ret->in.sin_addr.s_addr = htonl(addr_to_v4(addr));
        } else {
                ret->in6.sin6_family = AF_INET6;
                ret->in6.sin6_port = htons(port);
                addr_to_in6(addr, &ret->in6.sin6_addr);
        }
}

/* Address (mapped for IPv4) and port of a sockaddr; false for other families. */
static bool sockaddr_to_addr(const PeerSockaddr *sa, u128 *ret, uint16_t *ret_port)
{
        switch (sa->sa.sa_family) {
        case AF_INET:
                *ret = addr_from_v4(ntohl(sa->in.sin_addr.s_addr));
                *ret_port = ntohs(sa->in.sin_port);
                return true;
        case AF_INET6:
                *ret = addr_from_in6(&sa->in6.sin6_addr);
                *ret_port = ntohs(sa->in6.sin6_port);
                return true;
        default:
                return false;
        }
}

static void member_free(Member *m)
{
        if (!m)
                return;
        sd_event_source_disable_unref(m->death);
        free(m->info.name);
        free(m->info.owned);
        free(m);
}

static void seen_save(Peers *p);

Peers *peers_free(Peers *p)
{
        if (!p)
                return NULL;
        seen_save(p);
        sd_event_source_disable_unref(p->seen_timer);
        sd_event_source_disable_unref(p->clash_timer);
        for (size_t i = 0; i < p->n_seen; i++)
                free(p->seen[i].name);
        free(p->seen);
        free(p->seen_path);
        for (size_t i = 0; i < p->n_members; i++)
                member_free(p->members[i]);
        free(p->members);
        free(p->member_addrs);
        sd_event_source_disable_unref(p->io);
        sd_event_source_disable_unref(p->timer);
        if (p->fd >= 0)
                close(p->fd);
        sd_event_unref(p->event);
        sodium_memzero(p->key, sizeof(p->key));
        free(p->self);
        free(p->owned);
        free(p->tx);
        free(p->rx);
        free(p);
        return NULL;
}

static Member *find_member(const Peers *p, const char *name)
{
        size_t lo = 0, hi = p->n_members;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(name, p->members[mid]->info.name);
                if (c == 0)
                        return p->members[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

/* The destination of m as our socket's family wants it (IPv4 mapped on a v6 socket). */
static void member_set_dest(Peers *p, Member *m)
{
        m->dest = (PeerSockaddr){0};
        if (p->family == AF_INET6) {
                m->dest.in6.sin6_family = AF_INET6;
                m->dest.in6.sin6_port = htons(m->info.port);
                addr_to_in6(m->info.addr, &m->dest.in6.sin6_addr);
                m->dest_len = sizeof(m->dest.in6);
        } else {
                addr_to_sockaddr(m->info.addr, m->info.port, &m->dest);
                m->dest_len = addr_is_v4(m->info.addr) ? sizeof(m->dest.in) : sizeof(m->dest.in6);
        }
}

static void send_round(Peers *p)
{
        ssize_t len;
        uint64_t now;

        if (p->n_members == 0)
                return;
        /* during a name clash: leaving, holding nothing, so that the peers take over */
        len = hb_encode(p->tx, p->key, p->self, p->incarnation, ++p->sequence,
                        p->leaving || p->clash, p->owned, p->clash ? 0 : p->n_owned, NULL);
        if (len < 0) {
                /* The name was checked in peers_new(); this cannot happen. */
                log_error_errno((int)len, "heartbeat: cannot encode: %m");
                return;
        }
        now = now_usec(p);
        for (size_t i = 0; i < p->n_members; i++) {
                Member *m = p->members[i];
                ssize_t n;

                n = sendto(p->fd, p->tx, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL, &m->dest.sa,
                           m->dest_len);
                if (n >= 0) {
                        p->sent++;
                        continue;
                }
                m->info.send_errors++;
                if (ratelimit_ok(&m->send_log, now))
                        log_debug_errno(-errno, "heartbeat: sending to %s (%s:%u) failed: %m",
                                        m->info.name, m->info.address, m->info.port);
        }
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Peers *p = userdata;

        uint64_t next = usec + p->interval_usec, now = now_usec(p);

        send_round(p);
        /* Keep the cadence, but after a stall send one round, not a burst of catch-ups. */
        if (next <= now)
                next = now + p->interval_usec;
        (void)sd_event_source_set_time(s, next);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void notify(Peers *p)
{
        if (p->changed)
                p->changed(p->userdata);
}

static int on_death(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
        Member *m = userdata;

        if (!m->info.alive)
                return 0;
        m->info.alive = false;
        m->info.dead_since_usec = now_usec(m->peers);
        event_log(EVENT_PEER_DEATH, LOG_INFO, NULL, m->info.name,
                  "peer %s: alive -> dead (no heartbeat for %" PRIu64 " ms)", m->info.name,
                  m->peers->dead_after_usec / 1000);
        notify(m->peers);
        return 0;
}

static int arm_death(Peers *p, Member *m)
{
        uint64_t when = m->info.last_seen_usec + p->dead_after_usec;
        int r;

        if (!m->death)
                return sd_event_add_time(p->event, &m->death, CLOCK_MONOTONIC, when,
                                         TIMER_ACCURACY_USEC, on_death, m);
        r = sd_event_source_set_time(m->death, when);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(m->death, SD_EVENT_ONESHOT);
}

static int on_clash_over(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
        Peers *p = userdata;

        if (!p->clash)
                return 0;
        p->clash = false;
        log_notice("no heartbeat with our name %s from %s for %" PRIu64
                   " ms: the name clash is over, owning addresses again",
                   p->self, p->clash_address, p->dead_after_usec / 1000);
        send_round(p);
        notify(p);
        return 0;
}

/* An authentic heartbeat with our name and another incarnation, from `from`. */
static void name_clash(Peers *p, const Heartbeat *hb, u128 src)
{
        uint64_t when = now_usec(p) + p->dead_after_usec;
        int r;

        if (p->clash_seen &&
            !hb_is_newer(hb->incarnation, hb->sequence, p->clash_incarnation, p->clash_sequence))
                return; /* a replay cannot prolong (or restart) the clash */
        p->clash_seen = true;
        p->clash_incarnation = hb->incarnation;
        p->clash_sequence = hb->sequence;
        if (!p->clash_timer)
                r = sd_event_add_time(p->event, &p->clash_timer, CLOCK_MONOTONIC, when,
                                      TIMER_ACCURACY_USEC, on_clash_over, p);
        else {
                r = sd_event_source_set_time(p->clash_timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(p->clash_timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                log_error_errno(r, "heartbeat: cannot arm the name clash timer: %m");
        if (p->clash)
                return;
        p->clash = true;
        addr_format(src, p->clash_address);
        log_error("another node uses our node name %s: authentic heartbeats from %s "
                  "(incarnation %" PRIu64 ", ours %" PRIu64
                  "); a cloned machine? Owning no address until they stop",
                  p->self, p->clash_address, hb->incarnation, p->incarnation);
        send_round(p);
        notify(p);
}

static void count_drop(Peers *p, HbDrop d, const PeerSockaddr *from, const char *name)
{
        char ab[ADDR_STR_MAX] = "?";
        u128 a;
        uint16_t port = 0;

        p->drops[d]++;
        if (log_max_level < LOG_DEBUG || !ratelimit_ok(&p->drop_log, now_usec(p)))
                return;
        if (sockaddr_to_addr(from, &a, &port))
                addr_format(a, ab);
        log_debug("heartbeat from %s:%u%s%s dropped: %s", ab, port, name ? " named " : "",
                  name ? name : "", hb_drop_to_string(d));
}

static bool owned_equal(const PeerInfo *pi, const Heartbeat *hb)
{
        return pi->n_owned == hb->n_owned && pi->owned_truncated == hb->owned_truncated &&
               (hb->n_owned == 0 || memcmp(pi->owned, hb->owned, hb->n_owned * sizeof(u128)) == 0);
}

static Seen *seen_find(const Peers *p, const char *name, size_t *ret_pos)
{
        size_t lo = 0, hi = p->n_seen;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(name, p->seen[mid].name);
                if (c == 0)
                        return &p->seen[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        if (ret_pos)
                *ret_pos = lo;
        return NULL;
}

/* Records (inc, seq) for name if newer than what the table holds. */
static int seen_put(Peers *p, const char *name, uint64_t inc, uint64_t seq)
{
        size_t pos = 0;
        Seen *e = seen_find(p, name, &pos);

        if (e) {
                if (hb_is_newer(inc, seq, e->incarnation, e->sequence)) {
                        e->incarnation = inc;
                        e->sequence = seq;
                }
                return 0;
        }
        if (p->n_seen >= SEEN_MAX)
                return -E2BIG;
        if (GROW(p->seen, p->cap_seen, p->n_seen + 1) < 0)
                return -ENOMEM;
        char *copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        memmove(p->seen + pos + 1, p->seen + pos, (p->n_seen - pos) * sizeof(Seen));
        p->seen[pos] = (Seen){copy, inc, seq};
        p->n_seen++;
        return 0;
}

/* Writes peers-seen: the file's pairs, updated with what the members sent since. */
static void seen_save(Peers *p)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        if (!p->seen_path || !p->seen_dirty)
                return;
        p->seen_dirty = false;
        for (size_t i = 0; i < p->n_members; i++) {
                const PeerInfo *pi = &p->members[i]->info;
                if (pi->received > 0 && seen_put(p, pi->name, pi->incarnation, pi->sequence) < 0)
                        log_oom();
        }
        f = open_memstream(&text, &len);
        if (!f)
                return (void)log_oom();
        for (size_t i = 0; i < p->n_seen; i++)
                fprintf(f, "%s %" PRIu64 " %" PRIu64 "\n", p->seen[i].name, p->seen[i].incarnation,
                        p->seen[i].sequence);
        if (fclose(f) != 0)
                return (void)log_oom();
        r = write_file_atomic(p->seen_path, text, len, 0600);
        if (r < 0) {
                log_error_errno(r,
                                "Cannot write %s: %m; replayed heartbeats could revive a dead "
                                "peer after a restart",
                                p->seen_path);
                p->seen_dirty = true; /* try again at the next save */
        }
}

static int on_seen_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata)
{
        seen_save(userdata);
        return 0;
}

/* Something was accepted: save within SEEN_SAVE_USEC (never from the packet path). */
static void seen_mark(Peers *p)
{
        int enabled = SD_EVENT_OFF;

        if (!p->seen_path)
                return;
        p->seen_dirty = true;
        if (sd_event_source_get_enabled(p->seen_timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return;
        (void)sd_event_source_set_time(p->seen_timer, now_usec(p) + SEEN_SAVE_USEC);
        (void)sd_event_source_set_enabled(p->seen_timer, SD_EVENT_ONESHOT);
}

/* Reads peers-seen; bad lines are skipped with a warning, a missing file is no error. */
static int seen_load(Peers *p)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, bad = 0;
        int r;

        r = read_full_file(p->seen_path, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", p->seen_path);
        for (char *line = buf, *next; line && *line; line = next) {
                char name[HB_NAME_MAX + 1];
                uint64_t inc, seq;
                int used = 0;

                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (sscanf(line, "%253s %" SCNu64 " %" SCNu64 "%n", name, &inc, &seq, &used) != 3 ||
                    line[used] != 0 || !hb_name_valid(name)) {
                        bad++;
                        continue;
                }
                r = seen_put(p, name, inc, seq);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        break;
        }
        if (bad > 0)
                log_warning("%s: %zu malformed line(s) ignored", p->seen_path, bad);
        return 0;
}

static bool is_member_addr(const Peers *p, u128 a)
{
        size_t lo = 0, hi = p->n_member_addrs;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (p->member_addrs[mid] == a)
                        return true;
                if (p->member_addrs[mid] < a)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

static uint64_t timespec_usec(const struct timespec *ts)
{
        return (uint64_t)ts->tv_sec * 1000000ULL + (uint64_t)ts->tv_nsec / 1000;
}

/* When a datagram the kernel stamped `stamp` (CLOCK_REALTIME) arrived, on CLOCK_MONOTONIC:
 * its age now, taken from now. A stamp from the future (the clock was set back) counts as
 * now; one older than `max_age` as max_age ago. */
static uint64_t arrival_usec(const struct timespec *stamp, uint64_t max_age)
{
        struct timespec real, mono;
        uint64_t r, m, st = timespec_usec(stamp), age;

        clock_gettime(CLOCK_REALTIME, &real);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        r = timespec_usec(&real);
        m = timespec_usec(&mono);
        age = st < r ? MIN(r - st, max_age) : 0;
        return age < m ? m - age : m;
}

static void handle_datagram(Peers *p, size_t len, const PeerSockaddr *from, uint64_t arrived)
{
        Heartbeat hb = {0};
        HbDrop d;
        Member *m;
        u128 src;
        uint16_t src_port;
        bool changed = false;
        int r;

        if (len > HB_MAX_PACKET) {
                count_drop(p, HB_DROP_OVERSIZE, from, NULL);
                return;
        }
        /* Before the tag: what no member sent costs no HMAC, except (within a budget)
         * our own name, which a node that took our name may send from anywhere. */
        if (!sockaddr_to_addr(from, &src, &src_port) ||
            (!is_member_addr(p, src) &&
             (!hb_names(p->rx, len, p->self) ||
              !budget_ok(&p->self_budget, now_usec(p), SELF_BUDGET_USEC, SELF_BUDGET_BURST)))) {
                count_drop(p, HB_DROP_UNKNOWN_PEER, from, NULL);
                return;
        }
        r = hb_decode(p->rx, len, p->key, &hb, &d);
        if (r < 0) {
                log_oom();
                return;
        }
        if (r == HB_DROPPED) {
                count_drop(p, d, from, NULL);
                return;
        }
        if (strcmp(hb.name, p->self) == 0) {
                count_drop(p, HB_DROP_SELF, from, hb.name);
                /* our own incarnation: one of our packets reflected back, not a clone */
                if (hb.incarnation != p->incarnation)
                        name_clash(p, &hb, src);
                goto done;
        }
        m = find_member(p, hb.name);
        if (!m || src != m->info.addr) {
                count_drop(p, HB_DROP_UNKNOWN_PEER, from, hb.name);
                goto done;
        }
        if ((m->info.received > 0 || m->has_floor) &&
            !hb_is_newer(hb.incarnation, hb.sequence,
                         m->info.received ? m->info.incarnation : m->floor_incarnation,
                         m->info.received ? m->info.sequence : m->floor_sequence)) {
                count_drop(p, HB_DROP_REPLAY, from, hb.name);
                goto done;
        }

        if (!m->info.alive) {
                log_info("peer %s: %s -> alive (incarnation %" PRIu64 ")", m->info.name,
                         m->info.received ? "dead" : "unknown", hb.incarnation);
                m->info.dead_since_usec = 0;
                changed = true;
        } else if (hb.incarnation != m->info.incarnation)
                log_info("peer %s: restarted (incarnation %" PRIu64 " -> %" PRIu64 ")",
                         m->info.name, m->info.incarnation, hb.incarnation);
        if (m->info.leaving != hb.leaving) {
                log_info("peer %s: %s", m->info.name, hb.leaving ? "leaving" : "no longer leaving");
                changed = true;
        }
        if (!owned_equal(&m->info, &hb)) {
                free(m->info.owned);
                m->info.owned = TAKE_PTR(hb.owned);
                m->info.n_owned = hb.n_owned;
                m->info.owned_truncated = hb.owned_truncated;
                changed = true;
        }
        m->info.alive = true;
        m->info.leaving = hb.leaving;
        m->info.incarnation = hb.incarnation;
        m->info.sequence = hb.sequence;
        m->info.last_seen_usec = MAX(m->info.last_seen_usec, arrived);
        m->info.received++;
        seen_mark(p);
        r = arm_death(p, m);
        if (r < 0)
                log_error_errno(r, "peer %s: cannot arm the death timer: %m", m->info.name);
        if (changed)
                notify(p);
done:
        heartbeat_done(&hb);
}

static int on_io(sd_event_source *s _unused_, int fd, uint32_t revents _unused_, void *userdata)
{
        Peers *p = userdata;

        for (unsigned i = 0; i < RECV_BATCH; i++) {
                PeerSockaddr from = {0};
                struct iovec iov = {.iov_base = p->rx, .iov_len = HB_MAX_PACKET + 1};
                union {
                        struct cmsghdr align;
                        uint8_t buf[CMSG_SPACE(sizeof(struct timespec))];
                } control;
                struct msghdr mh = {
                    .msg_name = &from,
                    .msg_namelen = sizeof(from),
                    .msg_iov = &iov,
                    .msg_iovlen = 1,
                    .msg_control = control.buf,
                    .msg_controllen = sizeof(control.buf),
                };
                uint64_t arrived = 0;
                ssize_t n;

                /* MSG_TRUNC: the real length, so an oversize datagram is not mistaken for a
                 * truncated HB_MAX_PACKET + 1 one. */
                n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                log_debug_errno(-errno, "heartbeat: recvmsg: %m");
                        break;
                }
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
                            c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
                                struct timespec ts;
                                memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                                arrived = arrival_usec(&ts, p->dead_after_usec);
                        }
                /* no stamp: now; never later than the loop's now (ages are taken from it) */
                if (arrived == 0 || arrived > now_usec(p))
                        arrived = now_usec(p);
                handle_datagram(p, (size_t)n, &from, arrived);
        }
        return 0;
}

static int open_socket(Peers *p, const HostPort *listen)
{
        PeerSockaddr sa;
        socklen_t len;
        int fd;

        addr_to_sockaddr(listen->addr, listen->port, &sa);
        p->family = sa.sa.sa_family;
        len = p->family == AF_INET ? sizeof(sa.in) : sizeof(sa.in6);
        fd = socket(p->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
        if (fd < 0)
                return -errno;
        p->fd = fd;
        if (p->family == AF_INET6 && listen->addr == 0) {
                /* "::" takes IPv4 peers too (as mapped addresses), whatever bindv6only says. */
                int zero = 0;
                if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
                        return -errno;
                p->dual = true;
        }
        /* the kernel's receive time of each datagram (see the top); without it, now */
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
                log_debug_errno(-errno, "heartbeat: SO_TIMESTAMPNS: %m");
        if (bind(fd, &sa.sa, len) < 0)
                return -errno;
        len = sizeof(sa);
        if (getsockname(fd, &sa.sa, &len) < 0)
                return -errno;
        p->port = ntohs(p->family == AF_INET ? sa.in.sin_port : sa.in6.sin6_port);
        return 0;
}

int peers_new(Peers **ret, sd_event *e, const PeersSettings *s, void (*changed)(void *userdata),
              void *userdata)
{
        _cleanup_(peers_freep) Peers *p = NULL;
        int r;

        if (!s->listen.set || s->listen.port == 0 || s->interval_usec == 0 ||
            s->dead_after_usec == 0 || !hb_name_valid(s->self_name))
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->fd = -EBADF;
        p->event = sd_event_ref(e);
        p->self = strdup(s->self_name);
        p->tx = malloc(HB_MAX_PACKET);
        p->rx = malloc(HB_MAX_PACKET + 1);
        if (!p->self || !p->tx || !p->rx)
                return -ENOMEM;
        memcpy(p->key, s->key, sizeof(p->key));
        p->interval_usec = s->interval_usec;
        p->dead_after_usec = s->dead_after_usec;
        p->incarnation = s->incarnation;
        p->changed = changed;
        p->userdata = userdata;

        if (s->state_dir) {
                if (asprintf(&p->seen_path, "%s/%s", s->state_dir, SEEN_FILE) < 0)
                        return -ENOMEM;
                r = seen_load(p);
                if (r < 0)
                        return r;
                r = sd_event_add_time(e, &p->seen_timer, CLOCK_MONOTONIC, 0, SEEN_SAVE_USEC / 10,
                                      on_seen_timer, p);
                if (r < 0)
                        return r;
                (void)sd_event_source_set_enabled(p->seen_timer, SD_EVENT_OFF);
        }
        r = open_socket(p, &s->listen);
        if (r < 0)
                return r;
        r = sd_event_add_io(e, &p->io, p->fd, EPOLLIN, on_io, p);
        if (r < 0)
                return r;
        /* First round on the next loop iteration. */
        r = sd_event_add_time(e, &p->timer, CLOCK_MONOTONIC, now_usec(p), TIMER_ACCURACY_USEC,
                              on_timer, p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

static int u128_cmp(const void *a, const void *b)
{
        u128 x = *(const u128 *)a, y = *(const u128 *)b;

        return x < y ? -1 : x > y;
}

typedef struct Entry {
        const char *name;
        size_t idx;
} Entry;

static int entry_cmp(const void *a, const void *b)
{
        const Entry *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

int peers_set_members(Peers *p, const PeerAddr *list, size_t n)
{
        _cleanup_free_ Entry *ents = calloc(n + 1, sizeof(Entry));
        _cleanup_free_ Member **next = NULL;
        _cleanup_free_ u128 *addrs = NULL;
        size_t k = 0, n_addrs = 0;

        if (!ents)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                u128 a;
                uint16_t port;

                if (!hb_name_valid(list[i].name) || !sockaddr_to_addr(&list[i].addr, &a, &port) ||
                    port == 0)
                        return -EINVAL;
                if (strcmp(list[i].name, p->self) == 0)
                        continue;
                ents[k++] = (Entry){list[i].name, i};
        }
        qsort(ents, k, sizeof(Entry), entry_cmp);
        next = calloc(k + 1, sizeof(Member *));
        addrs = calloc(k + 1, sizeof(u128));
        if (!next || !addrs)
                return -ENOMEM;

        /* First allocate what is new, so that a failure leaves everything as it was. */
        size_t m = 0;
        for (size_t i = 0; i < k; i++) {
                if (m > 0 && strcmp(ents[i].name, ents[m - 1].name) == 0)
                        continue; /* duplicate name: the first entry (lowest index) wins */
                if (!find_member(p, ents[i].name)) {
                        Member *nm = calloc(1, sizeof(Member));
                        if (!nm || !(nm->info.name = strdup(ents[i].name))) {
                                free(nm);
                                for (size_t j = 0; j < m; j++)
                                        member_free(next[j]);
                                return -ENOMEM;
                        }
                        nm->peers = p;
                        const Seen *sn = seen_find(p, nm->info.name, NULL);
                        if (sn) {
                                nm->has_floor = true;
                                nm->floor_incarnation = sn->incarnation;
                                nm->floor_sequence = sn->sequence;
                        }
                        next[m] = nm;
                }
                ents[m++] = ents[i];
        }

        /* Commit: move the members that stay, free the others. */
        for (size_t i = 0; i < m; i++) {
                const PeerAddr *pa = &list[ents[i].idx];
                Member *mb = next[i];

                if (!mb) {
                        mb = find_member(p, ents[i].name);
                        mb->keep = true;
                        next[i] = mb;
                }
                sockaddr_to_addr(&pa->addr, &mb->info.addr, &mb->info.port);
                addr_format(mb->info.addr, mb->info.address);
                member_set_dest(p, mb);
                addrs[n_addrs++] = mb->info.addr;
        }
        qsort(addrs, n_addrs, sizeof(u128), u128_cmp);
        free(p->member_addrs);
        p->member_addrs = TAKE_PTR(addrs);
        p->n_member_addrs = 0;
        for (size_t i = 0; i < n_addrs; i++)
                if (i == 0 || p->member_addrs[i] != p->member_addrs[i - 1])
                        p->member_addrs[p->n_member_addrs++] = p->member_addrs[i];
        for (size_t i = 0; i < p->n_members; i++) {
                if (p->members[i]->keep)
                        p->members[i]->keep = false;
                else
                        member_free(p->members[i]);
        }
        free(p->members);
        p->members = TAKE_PTR(next);
        p->n_members = m;
        return 0;
}

void peers_set_timing(Peers *p, uint64_t interval_usec, uint64_t dead_after_usec)
{
        uint64_t now = now_usec(p);

        if (interval_usec > 0 && interval_usec != p->interval_usec) {
                p->interval_usec = interval_usec;
                (void)sd_event_source_set_time(p->timer, now + interval_usec);
                (void)sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
        }
        if (dead_after_usec > 0 && dead_after_usec != p->dead_after_usec) {
                p->dead_after_usec = dead_after_usec;
                for (size_t i = 0; i < p->n_members; i++) {
                        Member *m = p->members[i];
                        if (m->info.alive)
                                (void)arm_death(p, m);
                }
        }
}

void peers_set_owned(Peers *p, const u128 *sorted, size_t n)
{
        u128 *copy = NULL;

        if (n == p->n_owned && (n == 0 || memcmp(sorted, p->owned, n * sizeof(u128)) == 0))
                return;
        if (n > 0) {
                copy = malloc(n * sizeof(u128));
                if (!copy) {
                        log_oom();
                        return;
                }
                memcpy(copy, sorted, n * sizeof(u128));
        }
        free(p->owned);
        p->owned = copy;
        p->n_owned = n;
        send_round(p);
}

void peers_set_leaving(Peers *p, bool leaving)
{
        if (p->leaving == leaving)
                return;
        p->leaving = leaving;
        send_round(p);
}

size_t peers_count(const Peers *p)
{
        return p ? p->n_members : 0;
}

const PeerInfo *peers_get(const Peers *p, size_t i)
{
        return i < p->n_members ? &p->members[i]->info : NULL;
}

const PeerInfo *peers_find(const Peers *p, const char *name)
{
        Member *m = find_member(p, name);

        return m ? &m->info : NULL;
}

bool peer_holds(const PeerInfo *pi, u128 addr)
{
        size_t lo = 0, hi = pi->n_owned;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pi->owned[mid] == addr)
                        return true;
                if (pi->owned[mid] < addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        /* a truncated list holds the lowest addresses: one above them may be held too */
        return pi->owned_truncated && (pi->n_owned == 0 || addr > pi->owned[pi->n_owned - 1]);
}

void peers_drop_counts(const Peers *p, uint64_t out[static _HB_DROP_MAX])
{
        memcpy(out, p->drops, sizeof(p->drops));
}

uint64_t peers_sent(const Peers *p)
{
        return p->sent;
}

uint64_t peers_sequence(const Peers *p)
{
        return p->sequence;
}

bool peers_name_clash(const Peers *p, const char **ret_address)
{
        if (p->clash && ret_address)
                *ret_address = p->clash_address;
        return p->clash;
}

bool peers_can_reach(const Peers *p, u128 addr)
{
        return p->dual || (p->family == AF_INET) == addr_is_v4(addr);
}

const char *peers_family_name(const Peers *p)
{
        return p->dual ? "IPv4 and IPv6" : p->family == AF_INET ? "IPv4 only" : "IPv6 only";
}

uint16_t peers_port(const Peers *p)
{
        return p->port;
}

bool peers_set_key(Peers *p, const uint8_t key[static HB_KEY_SIZE])
{
        if (sodium_memcmp(p->key, key, HB_KEY_SIZE) == 0)
                return false;
        memcpy(p->key, key, HB_KEY_SIZE);
        return true;
}
