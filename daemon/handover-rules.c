/* SPDX-License-Identifier: MIT */
/*
 * Handover rules (handover-rules.h) through libnftables. The rule set is fixed; what
 * changes are the elements of three sets and two maps, so a handover costs one small
 * transaction, not a rewrite.
 */
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handover-rules.h"
#include "util/log.h"

typedef struct Forward {
        u128 addr, to;
} Forward;

struct HandoverRules {
        struct nft_ctx *nft;
        u128 *hush;
        size_t n_hush, cap_hush;
        Forward *fwd;
        size_t n_fwd, cap_fwd;
        char *pending; /* element changes for tables that are up */
        size_t n_pending, cap_pending;
        bool up;      /* the tables exist, with the elements before `pending` */
        bool dirty;   /* the lists changed since the last commit */
        bool failing; /* the last commit failed (said once) */
};

/* Deletes the tables whether or not they exist ("add" makes sure they do). */
static const char DELETE_TABLES[] = "add table ip mlbd\ndelete table ip mlbd\n"
                                    "add table ip6 mlbd\ndelete table ip6 mlbd\n"
                                    "add table arp mlbd\ndelete table arp mlbd\n";

/* Forwarding runs in prerouting at priority -150 (mangle): after conntrack (-200), so
 * that `ct state` is known, and before destination NAT (-100: kube-proxy's DNAT of the
 * address to a pod would hide it from the map). A segment of the old holder's: no SYN,
 * and no connection here, which conntrack calls new (an ACK it picks up mid-stream,
 * nf_conntrack_tcp_loose) or invalid (a FIN or RST it cannot pick up). A socket of this
 * node's own (one that conntrack sees mid-stream because the tables, and so conntrack,
 * came after it; or an invalid segment of it) keeps its packets: "socket wildcard 0" is an
 * established socket, where only a listener on the wildcard address would say 1. A map
 * miss ends the rule before its drop. Neighbour Solicitation: the target address is the
 * 128 bits after the ICMPv6 header's first 8 bytes (RFC 4861 4.3). */
#define FORWARD_CHAIN(family)                                                                      \
        "  chain forward_in { type filter hook prerouting priority -150; policy accept;\n"         \
        "    tcp flags ! syn ct state new,invalid socket wildcard 0 accept\n"                      \
        "    tcp flags ! syn ct state new,invalid dup to " family " daddr map @forward drop; }\n"
static const char CREATE_TABLES[] =
    "table ip mlbd {\n"
    "  map forward { type ipv4_addr : ipv4_addr; }\n" FORWARD_CHAIN(
        "ip") "}\n"
              "table ip6 mlbd {\n"
              "  map forward { type ipv6_addr : ipv6_addr; }\n"
              "  set hush { typeof @th,64,128; }\n" FORWARD_CHAIN(
                  "ip6") "  chain hush_in { type filter hook prerouting priority 0; policy "
                         "accept;\n"
                         "    icmpv6 type nd-neighbor-solicit @th,64,128 @hush drop; }\n"
                         "}\n"
                         "table arp mlbd {\n"
                         "  set hush { type ipv4_addr; }\n"
                         "  chain hush_in { type filter hook input priority 0; policy accept;\n"
                         "    arp operation request arp daddr ip @hush drop; }\n"
                         "}\n";

static int run(struct nft_ctx *nft, const char *cmd, char *err, size_t n_err)
{
        if (nft_run_cmd_from_buffer(nft, cmd) == 0)
                return 0;
        const char *e = nft_ctx_get_error_buffer(nft);
        size_t len = e ? strcspn(e, "\n") : 0;
        snprintf(err, n_err, "%.*s", (int)len, len ? e : "nft failed");
        return -EIO;
}

static struct nft_ctx *nft_open(void)
{
        struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);

        if (nft && (nft_ctx_buffer_error(nft) < 0 || nft_ctx_buffer_output(nft) < 0)) {
                nft_ctx_free(nft);
                return NULL;
        }
        return nft;
}

/* quiet: at start, where a failure only means nftables is not usable (said when used) */
static int delete_tables(struct nft_ctx *nft, bool quiet)
{
        char err[256];
        int r = run(nft, DELETE_TABLES, err, sizeof(err));

        if (r < 0 && quiet)
                log_debug("nftables: cannot delete earlier handover rules: %s", err);
        else if (r < 0)
                log_warning("Cannot delete the handover rules (nftables tables \"mlbd\"): %s", err);
        return r;
}

int handover_rules_delete_all(void)
{
        struct nft_ctx *nft = nft_open();
        int r;

        if (!nft)
                return log_oom();
        r = delete_tables(nft, false);
        nft_ctx_free(nft);
        return r;
}

int handover_rules_new(HandoverRules **ret)
{
        HandoverRules *r = calloc(1, sizeof(*r));

        if (!r || !(r->nft = nft_open())) {
                free(r);
                return log_oom();
        }
        (void)delete_tables(r->nft, true);
        *ret = r;
        return 0;
}

HandoverRules *handover_rules_free(HandoverRules *r)
{
        if (!r)
                return NULL;
        if (r->up)
                (void)delete_tables(r->nft, false);
        nft_ctx_free(r->nft);
        free(r->hush);
        free(r->fwd);
        free(r->pending);
        free(r);
        return NULL;
}

/* An address as nft reads it: dotted or colon form; an IPv6 hush element is the 128-bit
 * integer of the raw-payload set. */
static const char *nft_addr(u128 a, bool raw, char buf[static 40 + ADDR_STR_MAX])
{
        uint8_t b[16];

        if (!raw)
                return addr_format(a, buf);
        (void)addr_to_bytes(a, b);
        char *p = buf + sprintf(buf, "0x");
        for (size_t i = 0; i < 16; i++)
                p += sprintf(p, "%02x", b[i]);
        return buf;
}

_printf_(4, 5) static int appendf(char **s, size_t *n, size_t *cap, const char *fmt, ...)
{
        va_list ap;
        int len;

        va_start(ap, fmt);
        len = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (len < 0 || GROW(*s, *cap, *n + (size_t)len + 1) < 0)
                return -ENOMEM;
        va_start(ap, fmt);
        (void)vsnprintf(*s + *n, (size_t)len + 1, fmt, ap);
        va_end(ap);
        *n += (size_t)len;
        return 0;
}

static int hush_element(char **s, size_t *n, size_t *cap, const char *verb, u128 a)
{
        char buf[40 + ADDR_STR_MAX];
        bool v4 = addr_is_v4(a);

        return appendf(s, n, cap, "%s element %s mlbd hush { %s }\n", verb, v4 ? "arp" : "ip6",
                       nft_addr(a, !v4, buf));
}

static int forward_element(char **s, size_t *n, size_t *cap, const char *verb, const Forward *f)
{
        char a[ADDR_STR_MAX], t[ADDR_STR_MAX];
        bool v4 = addr_is_v4(f->addr);

        if (strcmp(verb, "delete") == 0)
                return appendf(s, n, cap, "delete element %s mlbd forward { %s }\n",
                               v4 ? "ip" : "ip6", addr_format(f->addr, a));
        return appendf(s, n, cap, "add element %s mlbd forward { %s : %s }\n", v4 ? "ip" : "ip6",
                       addr_format(f->addr, a), addr_format(f->to, t));
}

static ssize_t hush_index(const HandoverRules *r, u128 addr)
{
        for (size_t i = 0; i < r->n_hush; i++)
                if (r->hush[i] == addr)
                        return (ssize_t)i;
        return -1;
}

static ssize_t forward_index(const HandoverRules *r, u128 addr)
{
        for (size_t i = 0; i < r->n_fwd; i++)
                if (r->fwd[i].addr == addr)
                        return (ssize_t)i;
        return -1;
}

static int queue_hush(HandoverRules *r, const char *verb, u128 addr)
{
        r->dirty = true;
        return r->up ? hush_element(&r->pending, &r->n_pending, &r->cap_pending, verb, addr) : 0;
}

static int queue_forward(HandoverRules *r, const char *verb, const Forward *f)
{
        r->dirty = true;
        return r->up ? forward_element(&r->pending, &r->n_pending, &r->cap_pending, verb, f) : 0;
}

int handover_rules_hush(HandoverRules *r, u128 addr, bool on)
{
        ssize_t i = hush_index(r, addr);

        if (on == (i >= 0))
                return 0;
        if (!on) {
                r->hush[i] = r->hush[--r->n_hush];
                return queue_hush(r, "delete", addr);
        }
        if (GROW(r->hush, r->cap_hush, r->n_hush + 1) < 0)
                return -ENOMEM;
        r->hush[r->n_hush++] = addr;
        return queue_hush(r, "add", addr);
}

int handover_rules_forward(HandoverRules *r, u128 addr, u128 to)
{
        ssize_t i = forward_index(r, addr);
        int k;

        if (to && addr_is_v4(to) != addr_is_v4(addr))
                return -EAFNOSUPPORT;
        if (i >= 0 && r->fwd[i].to == to)
                return 0;
        if (i >= 0) {
                Forward old = r->fwd[i];
                r->fwd[i] = r->fwd[--r->n_fwd];
                if ((k = queue_forward(r, "delete", &old)) < 0)
                        return k;
        }
        if (!to)
                return 0;
        if (GROW(r->fwd, r->cap_fwd, r->n_fwd + 1) < 0)
                return -ENOMEM;
        r->fwd[r->n_fwd] = (Forward){addr, to};
        return queue_forward(r, "add", &r->fwd[r->n_fwd++]);
}

bool handover_rules_hushed(const HandoverRules *r, u128 addr)
{
        return hush_index(r, addr) >= 0;
}

void handover_rules_foreach_forward(HandoverRules *r,
                                    void (*cb)(u128 addr, u128 to, void *userdata), void *userdata)
{
        /* a copy: cb may stop a forward, which reorders the list */
        size_t n = r->n_fwd;
        _cleanup_free_ Forward *copy = n ? malloc(n * sizeof(*copy)) : NULL;

        if (n && !copy)
                return (void)log_oom();
        if (n)
                memcpy(copy, r->fwd, n * sizeof(*copy));
        for (size_t i = 0; i < n; i++)
                cb(copy[i].addr, copy[i].to, userdata);
}

/* The whole set: tables deleted, created, every element added. */
static int full_set(HandoverRules *r, char **s, size_t *n, size_t *cap)
{
        int k = appendf(s, n, cap, "%s%s", DELETE_TABLES, CREATE_TABLES);

        for (size_t i = 0; k >= 0 && i < r->n_hush; i++)
                k = hush_element(s, n, cap, "add", r->hush[i]);
        for (size_t i = 0; k >= 0 && i < r->n_fwd; i++)
                k = forward_element(s, n, cap, "add", &r->fwd[i]);
        return k;
}

int handover_rules_commit(HandoverRules *r)
{
        _cleanup_free_ char *whole = NULL;
        size_t n = 0, cap = 0;
        bool empty = r->n_hush == 0 && r->n_fwd == 0;
        const char *cmd;
        char err[256];
        int k;

        if (!r->dirty)
                return 0;
        if (empty)
                cmd = DELETE_TABLES;
        else if (!r->up) {
                if (full_set(r, &whole, &n, &cap) < 0)
                        return log_oom();
                cmd = whole;
        } else
                cmd = r->pending ? r->pending : "";
        k = run(r->nft, cmd, err, sizeof(err));
        r->n_pending = 0;
        if (r->pending)
                r->pending[0] = '\0';
        if (k < 0) {
                if (!r->failing)
                        log_warning("Handover rules (nftables) could not be written: %s; "
                                    "connections under way at a handover are reset",
                                    err);
                r->failing = true;
                r->up = false; /* what is in the kernel is not known: all of it next time */
                return k;
        }
        if (r->failing)
                log_info("Handover rules (nftables) are written again");
        r->failing = false;
        r->dirty = false;
        r->up = !empty;
        return 0;
}
