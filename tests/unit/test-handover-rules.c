/* SPDX-License-Identifier: MIT */
/*
 * handover-rules against the real nf_tables, in a network namespace of its own (root only;
 * a TAP skip otherwise): what reaches the kernel for each change, the tables gone when
 * nothing is left, an earlier run's tables deleted, and a commit that failed (the tables
 * deleted behind its back) mended by the next. What the rules do to packets is
 * tests/integration/cluster-drain.sh's part.
 */
#include <nftables/libnftables.h>

#include "handover-rules.h"
#include "netns.h"
#include "tap.h"

/* The ruleset as `nft list ruleset` prints it. */
static char *ruleset(void)
{
        struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
        char *text = NULL;

        nft_ctx_buffer_output(nft);
        nft_ctx_buffer_error(nft);
        if (nft_run_cmd_from_buffer(nft, "list ruleset") == 0)
                text = strdup(nft_ctx_get_output_buffer(nft));
        nft_ctx_free(nft);
        return text;
}

static bool has(const char *text, const char *what)
{
        return text && strstr(text, what);
}

static int nft(const char *cmd)
{
        struct nft_ctx *c = nft_ctx_new(NFT_CTX_DEFAULT);
        int r;

        nft_ctx_buffer_output(c);
        nft_ctx_buffer_error(c);
        r = nft_run_cmd_from_buffer(c, cmd);
        nft_ctx_free(c);
        return r;
}

static u128 a(const char *s)
{
        u128 x = 0;
        (void)addr_parse(s, &x);
        return x;
}

static void count_cb(u128 addr, u128 to, void *userdata)
{
        (*(int *)userdata)++;
}

int main(void)
{
        _cleanup_(handover_rules_freep) HandoverRules *r = NULL;
        _cleanup_free_ char *t0 = NULL, *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;
        int n = 0;

        if (!netns_enter())
                return 0;
        /* an earlier run's table, with a hush that would keep 192.0.2.9 dark here */
        is_int(nft("table arp mlbd { set hush { type ipv4_addr; elements = { 192.0.2.9 }; }; "
                   "chain hush_in { type filter hook input priority 0; "
                   "arp daddr ip @hush drop; }; }"),
               0, "a leftover table arp mlbd");
        is_int(handover_rules_new(&r), 0, "handover_rules_new");
        t0 = ruleset();
        ok(t0 && !has(t0, "mlbd"), "it deleted the leftover table");
        is_int(handover_rules_commit(r), 0, "a commit with nothing queued");

        is_int(handover_rules_hush(r, a("192.0.2.100"), true), 0, "hush an IPv4 address");
        is_int(handover_rules_hush(r, a("2001:db8::100"), true), 0, "hush an IPv6 address");
        is_int(handover_rules_forward(r, a("192.0.2.101"), a("192.0.2.2")), 0, "forward IPv4");
        is_int(handover_rules_forward(r, a("2001:db8::101"), a("2001:db8::2")), 0, "forward IPv6");
        is_int(handover_rules_forward(r, a("2001:db8::102"), a("192.0.2.2")), -EAFNOSUPPORT,
               "forwarding to a holder of the other family is refused");
        ok(!has(t1 = ruleset(), "mlbd"), "nothing reaches the kernel before the commit");
        is_int(handover_rules_commit(r), 0, "commit");
        t2 = ruleset();
        ok(has(t2, "table arp mlbd") && has(t2, "elements = { 192.0.2.100 }"),
           "the IPv4 hush is a table arp element");
        ok(has(t2, "0x20010db8000000000000000000000100"),
           "the IPv6 hush is the 128-bit target of a Neighbour Solicitation");
        ok(has(t2, "192.0.2.101 : 192.0.2.2"), "the IPv4 forward is a map element");
        ok(has(t2, "2001:db8::101 : 2001:db8::2"), "the IPv6 forward too");
        ok(has(t2, "tcp flags ! syn ct state invalid,new dup to ip daddr map @forward drop"),
           "segments without SYN and connection are sent on to the old holder");
        ok(has(t2, "tcp flags ! syn ct state invalid,new socket wildcard 0 accept"),
           "but not those of a connection of this node's");
        ok(handover_rules_hushed(r, a("192.0.2.100")) &&
               !handover_rules_hushed(r, a("192.0.2.101")),
           "handover_rules_hushed");
        handover_rules_foreach_forward(r, count_cb, &n);
        is_int(n, 2, "two forwards");

        /* behind its back: the next change fails, the one after writes everything anew */
        is_int(nft("delete table ip mlbd"), 0, "the ip table deleted by someone else");
        is_int(handover_rules_forward(r, a("192.0.2.101"), 0), 0, "stop the IPv4 forward");
        is_int(handover_rules_commit(r), -EIO, "the commit fails (its element is gone)");
        is_int(handover_rules_forward(r, a("192.0.2.103"), a("192.0.2.3")), 0, "another forward");
        is_int(handover_rules_commit(r), 0, "the next commit succeeds");
        t3 = ruleset();
        ok(has(t3, "192.0.2.103 : 192.0.2.3") && !has(t3, "192.0.2.101 :") &&
               has(t3, "elements = { 192.0.2.100 }") && has(t3, "2001:db8::101 : 2001:db8::2"),
           "with the whole set as it should be");

        (void)handover_rules_hush(r, a("192.0.2.100"), false);
        (void)handover_rules_hush(r, a("2001:db8::100"), false);
        (void)handover_rules_forward(r, a("192.0.2.103"), 0);
        (void)handover_rules_forward(r, a("2001:db8::101"), 0);
        is_int(handover_rules_commit(r), 0, "everything stopped");
        t4 = ruleset();
        ok(t4 && !has(t4, "mlbd"), "the tables are gone with the last element");

        (void)handover_rules_hush(r, a("192.0.2.100"), true);
        (void)handover_rules_commit(r);
        r = handover_rules_free(r);
        free(t0);
        ok((t0 = ruleset()) && !has(t0, "mlbd"), "handover_rules_free deletes the tables");
        (void)nft("table ip mlbd { }");
        is_int(handover_rules_delete_all(), 0, "handover_rules_delete_all (mlbd --flush)");
        free(t0);
        ok((t0 = ruleset()) && !has(t0, "mlbd"), "deletes them too");
        return tap_done();
}
