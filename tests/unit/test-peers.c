/* SPDX-License-Identifier: MIT */
/*
 * Membership over real UDP sockets on loopback (daemon/peers.c): three Peers in one
 * process and one sd_event see each other, learn what the others hold and that one is
 * leaving, and declare a freed one dead after dead_after (never before). A raw socket then
 * sends forged, replayed (captured and re-sent), truncated, oversize, unknown-name, wrong-
 * source, self-named, bad-version and malformed packets: each bumps exactly its counter
 * and changes nothing else. Ports come from the kernel (bind to port 0), so parallel runs
 * do not collide. Time bounds are generous; the measured figures are printed as notes.
 */
#include <arpa/inet.h>
#include <sodium.h>
#include <sys/socket.h>
#include <time.h>

#include "peers.h"
#include "tap.h"
#include "util/log.h"

#define INTERVAL_USEC (20 * 1000ULL)
#define DEAD_AFTER_USEC (200 * 1000ULL)
#define WAIT_USEC (5 * 1000000ULL)

static sd_event *ev;
static uint8_t key[HB_KEY_SIZE];

typedef struct Node {
        const char *name;
        Peers *peers;
        unsigned changed;
        HostPort listen;
} Node;

static void on_changed(void *userdata)
{
        ((Node *)userdata)->changed++;
}

static uint64_t mono(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static u128 A(const char *s)
{
        u128 a = 0;

        if (!addr_parse(s, &a))
                abort();
        return a;
}

/* A port the kernel says is free for a UDP socket bound like hp (dual-stack for ::). */
static uint16_t free_port(u128 addr)
{
        PeerSockaddr sa;
        socklen_t len = sizeof(sa);
        int fd, zero = 0;
        uint16_t port = 0;

        addr_to_sockaddr(addr, 0, &sa);
        fd = socket(sa.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sa.sa.sa_family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (fd >= 0 &&
            bind(fd, &sa.sa, sa.sa.sa_family == AF_INET ? sizeof(sa.in) : sizeof(sa.in6)) == 0 &&
            getsockname(fd, &sa.sa, &len) == 0)
                port = ntohs(sa.sa.sa_family == AF_INET ? sa.in.sin_port : sa.in6.sin6_port);
        if (fd >= 0)
                close(fd);
        return port;
}

static int node_start(Node *n, const char *name, const char *listen_addr, uint64_t incarnation)
{
        int r = -EADDRINUSE;

        n->name = name;
        for (int attempt = 0; attempt < 20 && r == -EADDRINUSE; attempt++) {
                PeersSettings s = {
                    .self_name = name,
                    .listen = {.set = true, .addr = A(listen_addr)},
                    .interval_usec = INTERVAL_USEC,
                    .dead_after_usec = DEAD_AFTER_USEC,
                    .incarnation = incarnation,
                };
                s.listen.port = free_port(s.listen.addr);
                memcpy(s.key, key, sizeof(key));
                n->listen = s.listen;
                r = peers_new(&n->peers, ev, &s, on_changed, n);
        }
        return r;
}

static PeerAddr member(const char *name, const char *addr, uint16_t port)
{
        PeerAddr pa = {.name = name};

        addr_to_sockaddr(A(addr), port, &pa.addr);
        return pa;
}

typedef bool (*Pred)(void *userdata);

/* Runs the loop until pred holds or WAIT_USEC passed; returns the time it took, or 0. */
static uint64_t run_until(Pred pred, void *userdata)
{
        uint64_t start = mono();

        while (!pred(userdata)) {
                if (mono() - start > WAIT_USEC)
                        return 0;
                if (sd_event_run(ev, 10 * 1000) < 0)
                        return 0;
        }
        return MAX(mono() - start, 1u);
}

static void run_for(uint64_t usec)
{
        uint64_t start = mono();

        while (mono() - start < usec)
                (void)sd_event_run(ev, 5 * 1000);
}

static Node a, b, c;

static bool alive(const Node *n, const char *who)
{
        const PeerInfo *pi = n->peers ? peers_find(n->peers, who) : NULL;
        return pi && pi->alive;
}

static bool all_alive(void *u _unused_)
{
        return alive(&a, "b") && alive(&a, "c") && alive(&b, "a") && alive(&b, "c") &&
               alive(&c, "a") && alive(&c, "b");
}

static bool owned_seen(void *u _unused_)
{
        const PeerInfo *pb = peers_find(b.peers, "a"), *pc = peers_find(c.peers, "a");
        return pb->n_owned == 2 && pc->n_owned == 2 && peer_holds(pb, A("192.0.2.1")) &&
               peer_holds(pc, A("2001:db8::1"));
}

static bool leaving_seen(void *u _unused_)
{
        return peers_find(b.peers, "a")->leaving && peers_find(c.peers, "a")->leaving;
}

static bool a_dead(void *u _unused_)
{
        return !alive(&b, "a") && !alive(&c, "a");
}

static int sock_at(const char *addr)
{
        PeerSockaddr sa;
        int fd;

        addr_to_sockaddr(A(addr), 0, &sa);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, &sa.sa, sizeof(sa.in)) < 0)
                abort();
        return fd;
}

static uint16_t sock_port(int fd)
{
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);

        getsockname(fd, (struct sockaddr *)&sin, &len);
        return ntohs(sin.sin_port);
}

static uint64_t drop_total(const Peers *p)
{
        uint64_t d[_HB_DROP_MAX], t = 0;

        peers_drop_counts(p, d);
        for (int i = 0; i < _HB_DROP_MAX; i++)
                t += d[i];
        return t;
}

typedef struct DropWait {
        const Peers *p;
        uint64_t before;
} DropWait;

static bool drop_counted(void *u)
{
        DropWait *w = u;
        return drop_total(w->p) > w->before;
}

/* Sends pkt from fd to b and checks that exactly counter `want` moved, by one, and that
 * dave's state did not change. */
static void expect_drop(const char *what, int fd, const uint8_t *pkt, size_t len, HbDrop want)
{
        uint64_t before[_HB_DROP_MAX], after[_HB_DROP_MAX];
        const PeerInfo *dave = peers_find(b.peers, "dave");
        uint64_t dave_rx = dave->received, dave_seq = dave->sequence;
        size_t dave_owned = dave->n_owned;
        struct sockaddr_in to = {.sin_family = AF_INET,
                                 .sin_port = htons(b.listen.port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        DropWait w = {b.peers, drop_total(b.peers)};
        bool only = true;

        peers_drop_counts(b.peers, before);
        ok(sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len,
           "%s: sent %zu bytes", what, len);
        ok(run_until(drop_counted, &w) > 0, "%s: dropped", what);
        run_for(30 * 1000); /* time for a second, wrong, count to show up */
        peers_drop_counts(b.peers, after);
        for (int i = 0; i < _HB_DROP_MAX; i++)
                if (after[i] - before[i] != (i == (int)want ? 1u : 0u)) {
                        only = false;
                        printf("# %s: counter %s moved by %" PRIu64 "\n", what,
                               hb_drop_to_string(i), after[i] - before[i]);
                }
        ok(only, "%s: counted as %s and nothing else", what, hb_drop_to_string(want));
        dave = peers_find(b.peers, "dave");
        ok(dave->received == dave_rx && dave->sequence == dave_seq && dave->n_owned == dave_owned,
           "%s: dave's state unchanged", what);
}

static bool got_datagram(void *u)
{
        int fd = *(int *)u;
        uint8_t x;
        return recv(fd, &x, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

typedef struct SeqWait {
        uint64_t seq;
} SeqWait;

static bool b_saw_newer_from_a(void *u)
{
        return peers_find(b.peers, "a")->sequence > ((SeqWait *)u)->seq;
}

static uint64_t get64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static bool dave_received(void *u)
{
        return peers_find(b.peers, "dave")->received == *(uint64_t *)u;
}

static bool no_clash(void *u _unused_)
{
        return !peers_name_clash(b.peers, NULL);
}

static void test_bad_packets(int dave_fd)
{
        static uint8_t pkt[HB_MAX_PACKET + 16], captured[HB_MAX_PACKET + 1];
        int other_fd = sock_at("127.0.0.2"), loop_fd = sock_at("127.0.0.1");
        u128 dave_owned[] = {A("198.51.100.7")};
        const PeerInfo *pi;
        ssize_t len, clen;
        unsigned changed;

        /* a sends to dave too: capture one of a's real heartbeats. */
        ok(run_until(got_datagram, &dave_fd) > 0, "captured a heartbeat a sent to dave");
        clen = recv(dave_fd, captured, sizeof(captured), 0);
        ok(clen > HB_MIN_PACKET && memcmp(captured, HB_MAGIC, 4) == 0 &&
               memcmp(captured + HB_HEADER_SIZE, "a", 1) == 0,
           "captured packet is a's heartbeat (%zd bytes)", clen);

        /* A valid heartbeat from dave (its configured address 127.0.0.1, any port). */
        changed = b.changed;
        len = hb_encode(pkt, key, "dave", 1000, 5, false, dave_owned, 1, NULL);
        struct sockaddr_in to = {.sin_family = AF_INET,
                                 .sin_port = htons(b.listen.port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        sendto(dave_fd, pkt, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to));
        uint64_t want_rx = 1;
        ok(run_until(dave_received, &want_rx) > 0, "b accepts a valid heartbeat from dave");
        pi = peers_find(b.peers, "dave");
        ok(pi->alive && pi->incarnation == 1000 && pi->sequence == 5 &&
               peer_holds(pi, dave_owned[0]),
           "dave alive, incarnation/sequence/owned recorded");
        ok(b.changed > changed, "b's changed() called for dave");

        expect_drop("replayed (same bytes again)", dave_fd, pkt, (size_t)len, HB_DROP_REPLAY);
        len = hb_encode(pkt, key, "dave", 1000, 4, false, NULL, 0, NULL);
        expect_drop("older sequence", dave_fd, pkt, (size_t)len, HB_DROP_REPLAY);
        len = hb_encode(pkt, key, "dave", 999, 99, false, NULL, 0, NULL);
        expect_drop("older incarnation", dave_fd, pkt, (size_t)len, HB_DROP_REPLAY);

        SeqWait sw = {get64(captured + 16)};
        ok(run_until(b_saw_newer_from_a, &sw) > 0,
           "b has a newer heartbeat from a than the captured one");
        expect_drop("a's captured heartbeat re-sent from a's address", loop_fd, captured,
                    (size_t)clen, HB_DROP_REPLAY);

        len = hb_encode(pkt, key, "dave", 1000, 6, false, NULL, 0, NULL);
        pkt[10] ^= 0x01;
        expect_drop("forged (one bit flipped)", dave_fd, pkt, (size_t)len, HB_DROP_FORGED);
        uint8_t wrong[HB_KEY_SIZE];
        randombytes_buf(wrong, sizeof(wrong));
        len = hb_encode(pkt, wrong, "dave", 1000, 7, false, NULL, 0, NULL);
        expect_drop("forged (other key)", dave_fd, pkt, (size_t)len, HB_DROP_FORGED);

        len = hb_encode(pkt, key, "dave", 1000, 8, false, NULL, 0, NULL);
        expect_drop("truncated (40 bytes)", dave_fd, pkt, 40, HB_DROP_TRUNCATED);
        expect_drop("truncated (last byte missing)", dave_fd, pkt, (size_t)len - 1, HB_DROP_FORGED);
        memset(pkt, 0x41, HB_MAX_PACKET + 1);
        expect_drop("oversize (65001 bytes)", dave_fd, pkt, HB_MAX_PACKET + 1, HB_DROP_OVERSIZE);

        len = hb_encode(pkt, key, "mallory", 1, 1, false, NULL, 0, NULL);
        expect_drop("unknown name", dave_fd, pkt, (size_t)len, HB_DROP_UNKNOWN_PEER);
        len = hb_encode(pkt, key, "dave", 1000, 9, false, NULL, 0, NULL);
        expect_drop("dave's name from 127.0.0.2", other_fd, pkt, (size_t)len, HB_DROP_UNKNOWN_PEER);
        const char *clash_from = NULL;
        uint64_t t0 = mono();
        len = hb_encode(pkt, key, "b", 1, 1, false, NULL, 0, NULL);
        expect_drop("b's own name", dave_fd, pkt, (size_t)len, HB_DROP_SELF);
        ok(peers_name_clash(b.peers, &clash_from) && strcmp(clash_from, "127.0.0.1") == 0,
           "b's own name, another incarnation: a name clash, from 127.0.0.1");
        ok(run_until(no_clash, NULL) > 0 && mono() - t0 >= DEAD_AFTER_USEC,
           "the clash is over dead_after after the last such heartbeat");
        expect_drop("the same heartbeat again", dave_fd, pkt, (size_t)len, HB_DROP_SELF);
        ok(!peers_name_clash(b.peers, NULL), "a replay does not start the clash again");
        len = hb_encode(pkt, key, "b", 200, 1, false, NULL, 0, NULL);
        expect_drop("b's own name and incarnation (a reflection)", dave_fd, pkt, (size_t)len,
                    HB_DROP_SELF);
        ok(!peers_name_clash(b.peers, NULL), "b's own incarnation: no clash");
        len = hb_encode(pkt, key, "b", 1, 2, false, NULL, 0, NULL);
        expect_drop("b's own name from a non-member address", other_fd, pkt, (size_t)len,
                    HB_DROP_SELF);
        ok(peers_name_clash(b.peers, &clash_from) && strcmp(clash_from, "127.0.0.2") == 0,
           "our name is checked even from a non-member address: a clash, from 127.0.0.2");
        ok(run_until(no_clash, NULL) > 0, "and over again");

        len = hb_encode(pkt, key, "dave", 1000, 10, false, NULL, 0, NULL);
        pkt[4] = 2;
        crypto_auth(pkt + len - HB_TAG_SIZE, pkt, (size_t)len - HB_TAG_SIZE, key);
        expect_drop("version 2", dave_fd, pkt, (size_t)len, HB_DROP_VERSION);
        pkt[4] = 1;
        pkt[5] = 0x10;
        crypto_auth(pkt + len - HB_TAG_SIZE, pkt, (size_t)len - HB_TAG_SIZE, key);
        expect_drop("malformed (unknown flag)", dave_fd, pkt, (size_t)len, HB_DROP_MALFORMED);

        /* After all that, dave's next real heartbeat is still accepted. */
        len = hb_encode(pkt, key, "dave", 1000, 11, false, NULL, 0, NULL);
        sendto(dave_fd, pkt, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to));
        want_rx = 2;
        ok(run_until(dave_received, &want_rx) > 0 && peers_find(b.peers, "dave")->n_owned == 0,
           "dave's next genuine heartbeat is accepted (owned now empty)");

        /* A flood of forged packets: each one that the kernel queued is counted as forged,
         * and the timers still run meanwhile (heartbeats from a keep arriving). */
        uint64_t fb[_HB_DROP_MAX], fa[_HB_DROP_MAX];
        uint64_t a_rx = peers_find(b.peers, "a")->received;
        peers_drop_counts(b.peers, fb);
        len = hb_encode(pkt, wrong, "dave", 1000, 12, false, NULL, 0, NULL);
        int sent = 0;
        for (int i = 0; i < 500; i++)
                sent += sendto(dave_fd, pkt, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&to,
                               sizeof(to)) == len;
        run_for(10 * INTERVAL_USEC);
        peers_drop_counts(b.peers, fa);
        uint64_t forged = fa[HB_DROP_FORGED] - fb[HB_DROP_FORGED], other = 0;
        for (int i = 0; i < _HB_DROP_MAX; i++)
                if (i != HB_DROP_FORGED)
                        other += fa[i] - fb[i];
        printf("# flood: %" PRIu64 " of %d forged packets reached b (the rest overflowed the "
               "socket buffer)\n",
               forged, sent);
        ok(forged > 64 && forged <= (uint64_t)sent && other == 0,
           "flood: more than one batch received, all counted as forged, nothing else");
        ok(peers_find(b.peers, "a")->received > a_rx && all_alive(NULL),
           "flood: a's heartbeats still accepted meanwhile, everyone alive");

        /* Non-member sources are dropped before the tag is computed (a flood from any
         * address costs a lookup, not an HMAC): a forged packet from 127.0.0.2 is
         * unknown_peer, not forged, and so is every packet of a flood from there. */
        len = hb_encode(pkt, wrong, "dave", 1000, 13, false, NULL, 0, NULL);
        expect_drop("forged, from a non-member address", other_fd, pkt, (size_t)len,
                    HB_DROP_UNKNOWN_PEER);
        peers_drop_counts(b.peers, fb);
        sent = 0;
        for (int i = 0; i < 500; i++)
                sent += sendto(other_fd, pkt, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&to,
                               sizeof(to)) == len;
        run_for(10 * INTERVAL_USEC);
        peers_drop_counts(b.peers, fa);
        uint64_t unknown = fa[HB_DROP_UNKNOWN_PEER] - fb[HB_DROP_UNKNOWN_PEER];
        other = 0;
        for (int i = 0; i < _HB_DROP_MAX; i++)
                if (i != HB_DROP_UNKNOWN_PEER)
                        other += fa[i] - fb[i];
        ok(unknown > 64 && unknown <= (uint64_t)sent && other == 0,
           "flood from a non-member: %" PRIu64 " of %d counted as unknown_peer, %" PRIu64
           " tags computed",
           unknown, sent, other);

        close(other_fd);
        close(loop_fd);
}

static bool x_sees_both(void *u)
{
        Node *n = u;
        return alive(&n[0], "y") && alive(&n[1], "x") &&
               (!n[2].peers || (alive(&n[0], "w") && alive(&n[2], "x")));
}

static void test_dual_stack(void)
{
        Node n[3] = {0};
        int r;

        r = node_start(&n[0], "x", "::", 7);
        ok(r == 0, "x listens on [::] (%s)", r < 0 ? strerror(-r) : "ok");
        r = node_start(&n[1], "y", "127.0.0.1", 8);
        ok(r == 0, "y listens on 127.0.0.1");
        r = node_start(&n[2], "w", "::1", 9);
        if (r < 0)
                diag_note("no IPv6 loopback here; the ::1 node is left out");
        if (!n[0].peers || !n[1].peers)
                return;
        PeerAddr xm[] = {member("y", "127.0.0.1", n[1].listen.port),
                         member("w", "::1", n[2].listen.port)};
        PeerAddr ym[] = {member("x", "127.0.0.1", n[0].listen.port)};
        PeerAddr wm[] = {member("x", "::1", n[0].listen.port)};
        is_int(peers_set_members(n[0].peers, xm, n[2].peers ? 2 : 1), 0, "x members");
        is_int(peers_set_members(n[1].peers, ym, 1), 0, "y members");
        if (n[2].peers)
                is_int(peers_set_members(n[2].peers, wm, 1), 0, "w members");
        ok(run_until(x_sees_both, n) > 0,
           "dual-stack x and 127.0.0.1 y (and ::1 w) see each other alive");
        const PeerInfo *pi = peers_find(n[1].peers, "x");
        is_str(pi->address, "127.0.0.1", "y's view of x: address text");
        for (int i = 0; i < 3; i++)
                peers_free(n[i].peers);
}

static void test_members(void)
{
        const PeerInfo *pa = peers_find(b.peers, "a");
        uint64_t rx = pa->received;
        PeerAddr list[] = {
            member("a", "127.0.0.1", a.listen.port),
            member("b", "127.0.0.1", b.listen.port), /* itself: skipped */
            member("a", "127.0.0.9", 1),             /* duplicate: first wins */
        };

        is_int(peers_set_members(b.peers, list, 3), 0, "b: members set to a (+ self, duplicate)");
        is_int(peers_count(b.peers), 1, "b: one member left");
        pa = peers_get(b.peers, 0);
        ok(pa && strcmp(pa->name, "a") == 0 && pa->received >= rx && pa->alive &&
               pa->addr == A("127.0.0.1"),
           "b: a kept its state and first address");
        ok(peers_find(b.peers, "c") == NULL && peers_find(b.peers, "dave") == NULL,
           "b: c and dave gone");
        PeerAddr bad[] = {member("a/b", "127.0.0.1", 1)};
        is_int(peers_set_members(b.peers, bad, 1), -EINVAL, "b: a bad name is refused");
        is_int(peers_count(b.peers), 1, "b: refused list changed nothing");
        PeerAddr all[] = {member("c", "127.0.0.1", c.listen.port),
                          member("a", "127.0.0.1", a.listen.port)};
        is_int(peers_set_members(b.peers, all, 2), 0, "b: c back");
        ok(run_until(all_alive, NULL) > 0, "b: c alive again");
        ok(strcmp(peers_get(b.peers, 0)->name, "a") == 0 &&
               strcmp(peers_get(b.peers, 1)->name, "c") == 0,
           "b: members sorted by name");
}

static bool c_send_error(void *u _unused_)
{
        return peers_find(c.peers, "v6peer")->send_errors > 0;
}

int main(void)
{
        int dave_fd, r;

        log_max_level = LOG_DEBUG;
        if (sodium_init() < 0 || sd_event_new(&ev) < 0)
                return 99;
        randombytes_buf(key, sizeof(key));

        ok(node_start(&a, "a", "127.0.0.1", 100) == 0, "a started");
        ok(node_start(&b, "b", "127.0.0.1", 200) == 0, "b started");
        ok(node_start(&c, "c", "127.0.0.1", 300) == 0, "c started");
        if (!a.peers || !b.peers || !c.peers)
                return tap_done();
        ok(a.listen.port != b.listen.port && peers_port(a.peers) == a.listen.port,
           "distinct ports (%u, %u, %u)", a.listen.port, b.listen.port, c.listen.port);
        dave_fd = sock_at("127.0.0.1");

        PeerAddr am[] = {member("b", "127.0.0.1", b.listen.port),
                         member("c", "127.0.0.1", c.listen.port),
                         member("dave", "127.0.0.1", sock_port(dave_fd))};
        PeerAddr bm[] = {member("a", "127.0.0.1", a.listen.port),
                         member("c", "127.0.0.1", c.listen.port),
                         member("dave", "127.0.0.1", sock_port(dave_fd))};
        PeerAddr cm[] = {member("a", "127.0.0.1", a.listen.port),
                         member("b", "127.0.0.1", b.listen.port),
                         member("v6peer", "2001:db8::1", 7947)};
        is_int(peers_set_members(a.peers, am, 3), 0, "a: members b, c, dave");
        is_int(peers_set_members(b.peers, bm, 3), 0, "b: members a, c, dave");
        is_int(peers_set_members(c.peers, cm, 3), 0, "c: members a, b, v6peer");
        is_int(peers_count(a.peers), 3, "a: 3 members");
        ok(!alive(&a, "b"), "nobody alive before the loop ran");

        uint64_t t = run_until(all_alive, NULL);
        ok(t > 0, "all three see each other alive");
        printf("# all alive after %" PRIu64 " ms\n", t / 1000);
        ok(b.changed >= 2 && c.changed >= 2, "changed() called as peers came alive (b %u, c %u)",
           b.changed, c.changed);
        ok(run_until(c_send_error, NULL) > 0,
           "c: sending to an IPv6 member from an IPv4 socket fails, counted, ignored");
        ok(alive(&c, "a") && alive(&c, "b"), "c: the others still alive");

        /* changed() is not called on every heartbeat. */
        unsigned bc = b.changed;
        uint64_t rx = peers_find(b.peers, "a")->received;
        run_for(10 * INTERVAL_USEC);
        ok(peers_find(b.peers, "a")->received >= rx + 3 && b.changed == bc,
           "steady heartbeats (%" PRIu64 " more from a) call no changed()",
           peers_find(b.peers, "a")->received - rx);
        ok(peers_sent(a.peers) > 0 && peers_sequence(a.peers) > 0, "a counts what it sent");

        /* Owned set. */
        u128 owned[] = {A("192.0.2.1"), A("2001:db8::1")};
        uint64_t seq = peers_sequence(a.peers);
        bc = b.changed;
        peers_set_owned(a.peers, owned, 2);
        is_int(peers_sequence(a.peers), seq + 1, "set_owned sends a heartbeat at once");
        t = run_until(owned_seen, NULL);
        ok(t > 0, "b and c learn what a holds");
        ok(b.changed == bc + 1, "b: one changed() for the owned set");
        ok(!peer_holds(peers_find(b.peers, "a"), A("192.0.2.2")), "peer_holds: not held");
        seq = peers_sequence(a.peers);
        peers_set_owned(a.peers, owned, 2);
        is_int(peers_sequence(a.peers), seq, "same owned set: no extra heartbeat");

        /* Leaving. */
        bc = b.changed;
        peers_set_leaving(a.peers, true);
        is_int(peers_sequence(a.peers), seq + 1, "set_leaving sends a heartbeat at once");
        ok(run_until(leaving_seen, NULL) > 0, "b and c see a leaving");
        ok(b.changed == bc + 1 && alive(&b, "a"), "b: one changed(), a still alive");

        test_bad_packets(dave_fd);
        test_members();

        /* Death: free a; b and c declare it dead after dead_after, not before. */
        uint64_t last_b = peers_find(b.peers, "a")->last_seen_usec;
        bc = b.changed;
        a.peers = peers_free(a.peers);
        uint64_t freed = mono();
        t = run_until(a_dead, NULL);
        ok(t > 0, "b and c declare a dead");
        uint64_t now_ev = 0;
        sd_event_now(ev, CLOCK_MONOTONIC, &now_ev);
        printf("# dead %" PRIu64 " ms after free (dead_after %llu ms, interval %llu ms)\n",
               (mono() - freed) / 1000, DEAD_AFTER_USEC / 1000, INTERVAL_USEC / 1000);
        ok(now_ev >= last_b + DEAD_AFTER_USEC, "not before dead_after since the last heartbeat");
        ok(b.changed == bc + 1, "b: one changed() for the death");
        ok(alive(&b, "c") && alive(&c, "b"), "b and c still alive");

        /* Coming back (new incarnation) makes it alive again. */
        r = node_start(&a, "a", "127.0.0.1", 101);
        if (r == 0) {
                /* a's port changed: tell b and c. */
                PeerAddr bm2[] = {member("a", "127.0.0.1", a.listen.port),
                                  member("c", "127.0.0.1", c.listen.port)};
                PeerAddr cm2[] = {member("a", "127.0.0.1", a.listen.port),
                                  member("b", "127.0.0.1", b.listen.port)};
                PeerAddr am2[] = {member("b", "127.0.0.1", b.listen.port),
                                  member("c", "127.0.0.1", c.listen.port)};
                peers_set_members(b.peers, bm2, 2);
                peers_set_members(c.peers, cm2, 2);
                peers_set_members(a.peers, am2, 2);
        }
        ok(r == 0 && run_until(all_alive, NULL) > 0, "a restarted: alive again everywhere");
        ok(peers_find(b.peers, "a")->incarnation == 101 && !peers_find(b.peers, "a")->leaving &&
               peers_find(b.peers, "a")->n_owned == 0,
           "b: new incarnation, not leaving, holds nothing");

        /* Timing change keeps everyone alive. */
        peers_set_timing(b.peers, INTERVAL_USEC / 2, DEAD_AFTER_USEC * 2);
        run_for(10 * INTERVAL_USEC);
        ok(all_alive(NULL), "after peers_set_timing: all alive");

        test_dual_stack();

        PeersSettings bad = {.self_name = "z",
                             .listen = {.set = true, .addr = A("127.0.0.1")},
                             .interval_usec = 1,
                             .dead_after_usec = 1};
        Peers *p = NULL;
        is_int(peers_new(&p, ev, &bad, NULL, NULL), -EINVAL, "port 0 refused");
        bad.listen.port = b.listen.port;
        is_int(peers_new(&p, ev, &bad, NULL, NULL), -EADDRINUSE, "a port in use: -EADDRINUSE");
        bad.self_name = "a b";
        is_int(peers_new(&p, ev, &bad, NULL, NULL), -EINVAL, "bad own name refused");

        close(dave_fd);
        peers_free(a.peers);
        peers_free(b.peers);
        peers_free(c.peers);
        sd_event_unref(ev);
        return tap_done();
}
