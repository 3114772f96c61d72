#!/bin/bash
# SPDX-License-Identifier: MIT
# Claim watch while an address is owned: another host announcing the address (gratuitous
# ARP, unsolicited NA) is counted and reported with its MAC; our own announcements, ARP
# requests for the address and probes for it are not claims. The watch never answers.
. "$(dirname "$0")/../lib/lan.sh"
lan_require_root

lan_setup n1 n2 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
MAC1=$(lan_mac n1)
MAC2=$(lan_mac n2)
fails() { ! "$@"; }
poke() { lan_exec client bash -c "echo x >/dev/udp/$1/9" 2>/dev/null; }

for a in 192.0.2.100 2001:db8::100; do
        lan_exec n2 "$NET_TOOL" add eth0 "$a"
        f="$tmp/watch-$a"
        lan_bg n2 "$f" "$NET_TOOL" watch eth0 "$a" 3000
        pid=$LAN_LAST_PID
        lan_wait_for "$f" '^ready$'
        lan_exec n2 "$NET_TOOL" announce eth0 "$a" 2 20 >/dev/null # ours: not a claim
        poke "$a"                                                  # resolution: not a claim
        lan_exec client "$NET_TOOL" probe eth0 "$a" 1 0 0 >/dev/null 2>&1 # a probe: not a claim
        lan_exec n1 "$NET_TOOL" announce eth0 "$a" 3 50 >/dev/null # n1 claims it
        wait "$pid"
        tap_is "$(grep -c "^claim $MAC1 " "$f")" 3 "$a: each of n1's 3 announcements reported"
        tap_ok "$a: with a running count" grep -qx "claim $MAC1 3" "$f"
        tap_is "$(grep '^claims ' "$f")" "claims 3" "$a: total 3, nothing else counted"
        tap_ok "$a: logged once at warning level" \
                test "$(grep -c "^<4>$a is claimed on the LAN by $MAC1" "$f")" -eq 1
        tap_ok "$a: our own MAC never reported" fails grep -q "$MAC2" "$f"
done
tap_done
