/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the wire decoders: the first byte picks ARP, Neighbour Discovery
 * or an rtnetlink address/link message; the rest is the packet. What ARP accepts must
 * rebuild to the same 28 bytes; ND and netlink decoders must stay within the buffer
 * (ASan judges), the claim classifiers must accept whatever the parsers return, and the
 * reply classifier reads only within the buffer.
 */
#include <linux/netlink.h>
#include <string.h>

#include "l2.h"
#include "netlink.h"
#include "reply-count.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t our[ETH_ALEN] = {0x00, 0x00, 0x5e, 0x00, 0x53, 0x01};
        uint8_t mac[ETH_ALEN], *copy;
        unsigned which;

        if (size < 1 || size > 4096)
                return 0;
        which = data[0] % 3;
        data++;
        size--;
        /* An exact-size heap copy, so ASan sees any read past the end. */
        copy = malloc(size ? size : 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);

        if (which == 0) {
                ArpPacket p;
                uint8_t buf[ARP_PACKET_LEN];

                u128 a;

                (void)reply_classify(ETH_P_ARP, copy, size, &a);
                if (arp_parse(copy, size, &p) == 0) {
                        arp_build(buf, &p);
                        if (memcmp(buf, copy, ARP_PACKET_LEN) != 0)
                                __builtin_trap(); /* accepted bytes must round-trip */
                        (void)l2_classify_arp(&p, p.tpa, our, mac);
                }
        } else if (which == 1) {
                NdMsg m;
                u128 a;

                (void)reply_classify(ETH_P_IPV6, copy, size, &a);
                if (ndisc_parse(copy, size, &m) == 0)
                        (void)l2_classify_nd(&m, our, &m.target, our, mac);
        } else if (size >= sizeof(struct nlmsghdr)) {
                struct nlmsghdr *nlh = (struct nlmsghdr *)copy;
                NlAddr a;
                NlLink l;

                if (nlh->nlmsg_len >= sizeof(*nlh) && nlh->nlmsg_len <= size) {
                        (void)nl_parse_addr(nlh, &a);
                        (void)nl_parse_link(nlh, &l);
                }
        }
        free(copy);
        return 0;
}
