/* SPDX-License-Identifier: MIT */
/*
 * Neighbour Discovery build/parse, checksums and claim classification. Reference packets
 * were built with scapy 2.5 (IPv6(...)/ICMPv6ND_NA(...)/ICMPv6NDOptDstLLAddr(...) etc.),
 * which computes the ICMPv6 checksum independently of our code.
 */
#include <arpa/inet.h>
#include <string.h>

#include "l2.h"
#include "ndisc.h"
#include "tap.h"

static const uint8_t mac_a[6] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x01};
static const uint8_t mac_b[6] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x02};

/* IPv6(src='fe80::200:5eff:fe00:5301',dst='ff02::1',hlim=255)/
 * ICMPv6ND_NA(R=0,S=0,O=1,tgt='2001:db8::10')/ICMPv6NDOptDstLLAddr(lladdr=mac_a) */
static const char scapy_na[] =
    "6000000000203afffe8000000000000002005efffe005301ff020000000000000000000000000001"
    "8800c7522000000020010db8000000000000000000000010020100005e005301";
/* IPv6(src='::',dst='ff02::1:ff00:10',hlim=255)/ICMPv6ND_NS(tgt='2001:db8::10') */
static const char scapy_ns_dad[] =
    "6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff000010"
    "87004ccf0000000020010db8000000000000000000000010";
/* IPv6(src='2001:db8::20',dst='ff02::1:ff00:10',hlim=255)/ICMPv6ND_NS(tgt='2001:db8::10')/
 * ICMPv6NDOptSrcLLAddr(lladdr=mac_b) */
static const char scapy_ns_slla[] =
    "6000000000203aff20010db8000000000000000000000020ff0200000000000000000001ff000010"
    "87006cea0000000020010db8000000000000000000000010010100005e005302";
/* IPv6(src='2001:db8::10',dst='2001:db8::20',hlim=255)/ICMPv6ND_NA(R=1,S=1,O=1,
 * tgt='2001:db8::10')/ICMPv6NDOptDstLLAddr(lladdr=mac_b) */
static const char scapy_na_sol[] =
    "6000000000203aff20010db800000000000000000000001020010db800000000000000000000002088"
    "005b35e000000020010db8000000000000000000000010020100005e005302";

static size_t unhex(const char *s, uint8_t *out)
{
        size_t n = 0;

        for (; s[0] && s[1]; s += 2) {
                unsigned v;

                sscanf(s, "%2x", &v);
                out[n++] = (uint8_t)v;
        }
        return n;
}

static struct in6_addr a6(const char *s)
{
        struct in6_addr a;

        inet_pton(AF_INET6, s, &a);
        return a;
}

static void test_build(void)
{
        struct in6_addr ll = a6("fe80::200:5eff:fe00:5301"), tgt = a6("2001:db8::10");
        uint8_t want[128], buf[NDISC_NA_LEN];
        size_t n;

        n = unhex(scapy_na, want);
        is_int(ndisc_build_unsolicited_na(buf, &ll, &tgt, mac_a), NDISC_NA_LEN, "NA length");
        ok(n == NDISC_NA_LEN && memcmp(buf, want, n) == 0, "unsolicited NA matches scapy bytes");
        is_int(buf[IPV6_HDR_LEN + 2] << 8 | buf[IPV6_HDR_LEN + 3], 0xc752, "NA checksum 0xc752");

        n = unhex(scapy_ns_dad, want);
        is_int(ndisc_build_dad_ns(buf, &tgt), NDISC_NS_DAD_LEN, "DAD NS length");
        ok(n == NDISC_NS_DAD_LEN && memcmp(buf, want, n) == 0, "DAD NS matches scapy bytes");
        is_int(buf[IPV6_HDR_LEN + 2] << 8 | buf[IPV6_HDR_LEN + 3], 0x4ccf, "NS checksum 0x4ccf");
}

static void test_helpers(void)
{
        struct in6_addr g, tgt = a6("2001:db8::abcd:1234:5678"), want = a6("ff02::1:ff34:5678");
        uint8_t m[6], want_mac[6] = {0x33, 0x33, 0xff, 0x34, 0x56, 0x78};

        ndisc_solicited_node(&tgt, &g);
        ok(memcmp(&g, &want, 16) == 0, "solicited-node group");
        ndisc_multicast_mac(&g, m);
        ok(memcmp(m, want_mac, 6) == 0, "multicast MAC 33:33:ff:34:56:78");

        /* A checksum over a valid message (checksum field in place) folds to zero. */
        uint8_t pkt[128];
        size_t n = unhex(scapy_na_sol, pkt);
        struct in6_addr src, dst;
        memcpy(&src, pkt + 8, 16);
        memcpy(&dst, pkt + 24, 16);
        is_int(ndisc_checksum(&src, &dst, pkt + IPV6_HDR_LEN, n - IPV6_HDR_LEN), 0,
               "checksum of a valid packet verifies to 0");
        /* Odd length: the last byte is padded with zero (RFC 1071). */
        uint8_t odd[3] = {0x12, 0x34, 0x56};
        struct in6_addr z = {};
        /* sum = 0x1234 + 0x5600 + len 3 + next header 58 = 0x6871 -> ~ = 0x978e */
        is_int(ndisc_checksum(&z, &z, odd, 3), 0x978e, "odd-length checksum");
}

static void test_parse(void)
{
        uint8_t pkt[160];
        size_t n;
        NdMsg m;
        struct in6_addr tgt = a6("2001:db8::10");

        n = unhex(scapy_na, pkt);
        is_int(ndisc_parse(pkt, n, &m), 0, "parse scapy NA");
        ok(m.type == ND_TYPE_NA && m.flags == ND_NA_FLAG_OVERRIDE, "NA type and O flag only");
        ok(memcmp(&m.target, &tgt, 16) == 0, "NA target");
        ok(m.has_lladdr && memcmp(m.lladdr, mac_a, 6) == 0, "NA TLLA");

        n = unhex(scapy_na_sol, pkt);
        is_int(ndisc_parse(pkt, n, &m), 0, "parse solicited NA");
        is_int(m.flags, ND_NA_FLAG_ROUTER | ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE, "R|S|O");

        n = unhex(scapy_ns_dad, pkt);
        is_int(ndisc_parse(pkt, n, &m), 0, "parse DAD NS");
        ok(m.type == ND_TYPE_NS && IN6_IS_ADDR_UNSPECIFIED(&m.src) && !m.has_lladdr, "DAD NS");

        n = unhex(scapy_ns_slla, pkt);
        is_int(ndisc_parse(pkt, n, &m), 0, "parse NS with SLLA");
        ok(m.has_lladdr && memcmp(m.lladdr, mac_b, 6) == 0, "NS SLLA");

        /* Trailing bytes beyond the payload length (Ethernet padding) are ignored. */
        n = unhex(scapy_ns_dad, pkt);
        memset(pkt + n, 0xee, 8);
        is_int(ndisc_parse(pkt, n + 8, &m), 0, "trailing bytes ignored");
}

static void test_malformed(void)
{
        uint8_t good[160], bad[160];
        size_t n = unhex(scapy_na, good);
        NdMsg m = {.type = 99};
        int refused = 0;

        for (size_t len = 0; len < n; len++)
                refused += ndisc_parse(good, len, &m) == -EBADMSG;
        is_int(refused, (int)n, "every truncation refused");
        is_int(m.type, 99, "refused parse leaves output untouched");

        static const struct {
                size_t ofs;
                uint8_t val;
                const char *what;
        } muts[] = {
            {0, 0x40, "IP version 4"},
            {5, 0x28, "payload length beyond buffer"},
            {5, 0x10, "payload length below 24"},
            {6, 17, "next header UDP"},
            {7, 64, "hop limit 64 (RFC 4861 7.1.2)"},
            {40, 134, "ICMPv6 type 134"},
            {41, 1, "code 1"},
            {42, 0x00, "bad checksum"},
            {44, 0x60, "multicast NA with Solicited flag"},
            {48, 0xff, "multicast target"},
            {65, 0, "option length 0"},
            {65, 2, "option longer than packet"},
        };
        for (size_t i = 0; i < ELEMENTSOF(muts); i++) {
                memcpy(bad, good, n);
                bad[muts[i].ofs] = muts[i].val;
                /* Fix up the checksum except where the test is about it, so each case
                 * hits its own check. */
                if (muts[i].ofs != 42 && muts[i].ofs >= IPV6_HDR_LEN) {
                        struct in6_addr s, d;
                        uint16_t c;

                        memcpy(&s, bad + 8, 16);
                        memcpy(&d, bad + 24, 16);
                        bad[42] = bad[43] = 0;
                        c = ndisc_checksum(&s, &d, bad + IPV6_HDR_LEN, n - IPV6_HDR_LEN);
                        bad[42] = c >> 8;
                        bad[43] = (uint8_t)c;
                }
                is_int(ndisc_parse(bad, n, &m), -EBADMSG, "refused: %s", muts[i].what);
        }

        /* A DAD NS (from ::) must go to the target's solicited-node group... */
        n = unhex(scapy_ns_dad, good);
        memcpy(bad, good, n);
        bad[39] = 0x11; /* ff02::1:ff00:11: group of another address */
        {
                struct in6_addr s, d;
                uint16_t c;

                memcpy(&s, bad + 8, 16);
                memcpy(&d, bad + 24, 16);
                bad[42] = bad[43] = 0;
                c = ndisc_checksum(&s, &d, bad + IPV6_HDR_LEN, n - IPV6_HDR_LEN);
                bad[42] = c >> 8;
                bad[43] = (uint8_t)c;
        }
        is_int(ndisc_parse(bad, n, &m), -EBADMSG, "DAD NS to a foreign group refused");
        /* ... and a checksum error anywhere is caught (flip a target bit). */
        memcpy(bad, good, n);
        bad[63] ^= 1;
        is_int(ndisc_parse(bad, n, &m), -EBADMSG, "corrupted target refused by checksum");
        is_int(ndisc_parse(NULL, 64, &m), -EBADMSG, "NULL refused");
}

static void test_classify(void)
{
        struct in6_addr tgt = a6("2001:db8::10"), other = a6("2001:db8::11"),
                        ll = a6("fe80::200:5eff:fe00:5302");
        uint8_t buf[NDISC_NA_LEN], pkt[160], mac[6] = {};
        size_t n;
        NdMsg m;

        ndisc_build_unsolicited_na(buf, &ll, &tgt, mac_b);
        ndisc_parse(buf, sizeof(buf), &m);
        is_int(l2_classify_nd(&m, mac_b, &tgt, mac_a, mac), L2_CLAIM_USE, "foreign NA");
        ok(memcmp(mac, mac_b, 6) == 0, "claimant MAC from TLLA");
        is_int(l2_classify_nd(&m, mac_b, &other, mac_a, mac), L2_CLAIM_NONE, "NA for other");
        is_int(l2_classify_nd(&m, mac_b, &tgt, mac_b, mac), L2_CLAIM_NONE, "our own NA");

        n = unhex(scapy_ns_dad, pkt);
        ndisc_parse(pkt, n, &m);
        is_int(l2_classify_nd(&m, mac_b, &tgt, mac_a, mac), L2_CLAIM_PROBE, "foreign DAD NS");
        is_int(l2_classify_nd(&m, mac_a, &tgt, mac_a, mac), L2_CLAIM_NONE, "our own DAD NS");

        n = unhex(scapy_ns_slla, pkt);
        ndisc_parse(pkt, n, &m);
        is_int(l2_classify_nd(&m, mac_b, &tgt, mac_a, mac), L2_CLAIM_NONE,
               "address resolution NS is no claim");
}

int main(void)
{
        test_build();
        test_helpers();
        test_parse();
        test_malformed();
        test_classify();
        return tap_done();
}
