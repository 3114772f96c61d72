/* SPDX-License-Identifier: MIT */
/*
 * ARP build/parse and claim classification. The reference packets were built with scapy
 * 2.5 (ARP(op=1, hwsrc=..., psrc=..., hwdst=..., pdst=...)) and stored as hex, so a
 * change in our byte order or field placement shows up against a known-good encoder.
 */
#include <string.h>

#include "arp.h"
#include "l2.h"
#include "tap.h"

static const uint8_t mac_a[6] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x01};
static const uint8_t mac_b[6] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x02};
#define IP_10 0xc000020aU /* 192.0.2.10 */

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

/* scapy: ARP(op=1,hwsrc=mac_a,psrc='0.0.0.0',hwdst='00:..:00',pdst='192.0.2.10') */
static const char scapy_probe[] = "000108000604000100005e00530100000000000000000000c000020a";
/* scapy: same with psrc='192.0.2.10' */
static const char scapy_announce[] = "000108000604000100005e005301c000020a000000000000c000020a";
/* scapy: ARP(op=2,hwsrc=mac_b,psrc='192.0.2.10',hwdst=mac_a,pdst='0.0.0.0') */
static const char scapy_reply[] = "000108000604000200005e005302c000020a00005e00530100000000";

static void test_build(void)
{
        uint8_t want[64], buf[ARP_PACKET_LEN];
        size_t n;

        n = unhex(scapy_probe, want);
        is_int(arp_build_probe(buf, mac_a, IP_10), ARP_PACKET_LEN, "probe length");
        ok(n == ARP_PACKET_LEN && memcmp(buf, want, n) == 0, "probe matches scapy bytes");

        n = unhex(scapy_announce, want);
        is_int(arp_build_announce(buf, mac_a, IP_10), ARP_PACKET_LEN, "announce length");
        ok(n == ARP_PACKET_LEN && memcmp(buf, want, n) == 0, "announcement matches scapy bytes");
}

static void test_parse(void)
{
        uint8_t pkt[64];
        size_t n = unhex(scapy_reply, pkt);
        ArpPacket p;

        is_int(arp_parse(pkt, n, &p), 0, "parse scapy reply");
        is_int(p.op, ARP_OP_REPLY, "reply op");
        ok(memcmp(p.sha, mac_b, 6) == 0, "reply sha");
        is_int(p.spa, IP_10, "reply spa");
        ok(memcmp(p.tha, mac_a, 6) == 0, "reply tha");
        is_int(p.tpa, 0, "reply tpa");

        /* Ethernet pads ARP to 46 bytes: trailing bytes are fine. */
        memset(pkt + n, 0, 18);
        is_int(arp_parse(pkt, n + 18, &p), 0, "padded packet accepted");

        /* Round trip of every built packet. */
        uint8_t buf[ARP_PACKET_LEN];
        arp_build_announce(buf, mac_a, IP_10);
        is_int(arp_parse(buf, sizeof(buf), &p), 0, "announce parses");
        ok(p.op == ARP_OP_REQUEST && p.spa == IP_10 && p.tpa == IP_10 && !arp_is_probe(&p),
           "announce round trip");
        arp_build_probe(buf, mac_a, IP_10);
        is_int(arp_parse(buf, sizeof(buf), &p), 0, "probe parses");
        ok(arp_is_probe(&p) && p.tpa == IP_10 && memcmp(p.sha, mac_a, 6) == 0, "probe round trip");
}

static void test_malformed(void)
{
        uint8_t good[ARP_PACKET_LEN], bad[ARP_PACKET_LEN];
        ArpPacket p = {.op = 77};
        int refused = 0;

        arp_build_announce(good, mac_a, IP_10);
        for (size_t len = 0; len < ARP_PACKET_LEN; len++)
                refused += arp_parse(good, len, &p) == -EBADMSG;
        is_int(refused, ARP_PACKET_LEN, "every truncation refused");
        is_int(p.op, 77, "refused parse leaves output untouched");
        is_int(arp_parse(NULL, 28, &p), -EBADMSG, "NULL refused");

        static const struct {
                size_t ofs;
                uint8_t val;
                const char *what;
        } muts[] = {
            {1, 6, "htype 6 (IEEE 802)"}, {2, 0x86, "ptype 0x86dd"}, {4, 8, "hlen 8"},
            {5, 16, "plen 16"},           {7, 3, "op 3 (RARP)"},     {7, 0, "op 0"},
        };
        for (size_t i = 0; i < ELEMENTSOF(muts); i++) {
                memcpy(bad, good, sizeof(bad));
                bad[muts[i].ofs] = muts[i].val;
                is_int(arp_parse(bad, sizeof(bad), &p), -EBADMSG, "refused: %s", muts[i].what);
        }
}

static void test_classify(void)
{
        uint8_t buf[ARP_PACKET_LEN], mac[6] = {};
        ArpPacket p;

        /* Another host announcing our address: USE, with its MAC. */
        arp_build_announce(buf, mac_b, IP_10);
        arp_parse(buf, sizeof(buf), &p);
        is_int(l2_classify_arp(&p, IP_10, mac_a, mac), L2_CLAIM_USE, "foreign announcement");
        ok(memcmp(mac, mac_b, 6) == 0, "claimant MAC reported");

        /* Its reply to our probe. */
        uint8_t pkt[64];
        arp_parse(pkt, unhex(scapy_reply, pkt), &p);
        is_int(l2_classify_arp(&p, IP_10, mac_a, mac), L2_CLAIM_USE, "reply to our probe");

        /* A competing probe from another host. */
        arp_build_probe(buf, mac_b, IP_10);
        arp_parse(buf, sizeof(buf), &p);
        is_int(l2_classify_arp(&p, IP_10, mac_a, mac), L2_CLAIM_PROBE, "competing probe");
        /* Our own probe or announcement is not a claim. */
        arp_build_probe(buf, mac_a, IP_10);
        arp_parse(buf, sizeof(buf), &p);
        is_int(l2_classify_arp(&p, IP_10, mac_a, mac), L2_CLAIM_NONE, "own probe ignored");
        arp_build_announce(buf, mac_a, IP_10);
        arp_parse(buf, sizeof(buf), &p);
        is_int(l2_classify_arp(&p, IP_10, mac_a, mac), L2_CLAIM_NONE, "own announce ignored");
        /* Other addresses are not ours to care about; a request *for* the address from a
         * host with its own address is ordinary resolution. */
        arp_build_announce(buf, mac_b, IP_10 + 1);
        arp_parse(buf, sizeof(buf), &p);
        is_int(l2_classify_arp(&p, IP_10, mac_a, mac), L2_CLAIM_NONE, "other address");
        p = (ArpPacket){.op = ARP_OP_REQUEST, .spa = IP_10 + 5, .tpa = IP_10};
        memcpy(p.sha, mac_b, 6);
        is_int(l2_classify_arp(&p, IP_10, mac_a, mac), L2_CLAIM_NONE, "who-has is no claim");
}

static void test_mac(void)
{
        uint8_t m[6];
        char buf[MAC_STR_MAX];

        ok(mac_parse("00:00:5e:00:53:02", m) && memcmp(m, mac_b, 6) == 0, "mac_parse");
        is_str(mac_format(mac_b, buf), "00:00:5e:00:53:02", "mac_format");
        ok(!mac_parse("00:00:5e:00:53", m), "short MAC refused");
        ok(!mac_parse("00:00:5e:00:53:0g", m), "bad hex refused");
        ok(!mac_parse("00:00:5e:00:53:021", m), "long MAC refused");
}

int main(void)
{
        test_build();
        test_parse();
        test_malformed();
        test_classify();
        test_mac();
        return tap_done();
}
