#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/lib/hb-send.py against the daemon's own codec (tests/integration/hb-tool): for the
# same key and fields it produces the same bytes as hb_encode() (so Python's HMAC-SHA-512 cut
# to 32 bytes is libsodium's crypto_auth), and each bad kind decodes to its drop reason;
# one valid and one oversize packet also go over UDP on loopback. Also mlbd --gen-key.
# Prints TAP.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
mlbd=$top_builddir/mlbd
tool=$top_builddir/tests/integration/hb-tool
send=(/usr/bin/python3 "$top_srcdir/tests/lib/hb-send.py")
n=0
failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
show() { sed 's/^/#   /' <<<"$1"; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

# mlbd --gen-key
out=$("$mlbd" --gen-key "$tmp/cluster.key" 2>&1); rc=$?
ok $rc "mlbd --gen-key writes a key" || show "$out"
[ "$(stat -c %a "$tmp/cluster.key" 2>/dev/null)" = 600 ]; ok $? "the key file has mode 0600"
[ "$(stat -c %s "$tmp/cluster.key" 2>/dev/null)" = 45 ]; ok $? "44 base64 characters and a newline"
cp "$tmp/cluster.key" "$tmp/before"
out=$("$mlbd" --gen-key "$tmp/cluster.key" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "cluster.key: already exists; refusing to overwrite" <<<"$out"
ok $? "a second --gen-key on the same file exits 1 and says why" || show "$out"
cmp -s "$tmp/before" "$tmp/cluster.key"; ok $? "the existing key is unchanged"
out=$("$mlbd" --gen-key "$tmp/no/such/dir" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "No such file or directory" <<<"$out"
ok $? "--gen-key into a missing directory exits 1 with strerror" || show "$out"
key=$tmp/cluster.key

fields=(--name node-7.example --incarnation 1700000000123456 --sequence 42 --leaving
	--owned 192.0.2.10 --owned 2001:db8::10 --owned 198.51.100.1)
py_hex=$("${send[@]}" --key "$key" "${fields[@]}" valid - 2>&1)
c_hex=$("$tool" encode "$key" node-7.example 1700000000123456 42 1 192.0.2.10 2001:db8::10 198.51.100.1 2>&1)
[ -n "$py_hex" ] && [ "$py_hex" = "$c_hex" ]
ok $? "hb-send.py and hb_encode() produce the same bytes (HMAC-SHA-512/256 = crypto_auth)" ||
	show "py $py_hex"$'\n'"c  $c_hex"
out=$("$tool" decode "$key" "$py_hex")
[ "$out" = "ok name=node-7.example inc=1700000000123456 seq=42 leaving=1 truncated=0 owned=192.0.2.10,198.51.100.1,2001:db8::10" ]
ok $? "the daemon's decoder accepts hb-send.py's packet with every field" || show "$out"

expect() { # KIND WANT [extra args]
	local kind=$1 want=$2; shift 2
	local hex out
	hex=$("${send[@]}" --key "$key" "$@" "$kind" - | head -n1)
	out=$("$tool" decode "$key" "$hex")
	[ "$out" = "$want" ]; ok $? "hb-send.py $kind $*: $want" || show "$out"
}
expect forged "drop forged"
expect forged "drop forged" --flip-bit 0
expect wrongkey "drop forged"
expect truncated "drop truncated"
expect truncated "drop forged" --length 60
expect oversize "drop oversize"
expect version "drop version"
expect malformed "drop malformed"
lines=$("${send[@]}" --key "$key" replay - | sort -u | wc -l)
[ "$lines" = 1 ]; ok $? "replay prints the same packet twice"
lines=$("${send[@]}" --key "$key" --count 3 valid - | sort -u | wc -l)
[ "$lines" = 3 ]; ok $? "valid --count 3 gives three distinct packets (sequence +1)"

# Over UDP on loopback: what the daemon's decoder makes of datagrams hb-send.py sends.
udp() { # KIND WANT [extra args]
	local kind=$1 want=$2; shift 2
	"$tool" recv "$key" 127.0.0.1 0 5000 >"$tmp/recv" 2>&1 &
	local pid=$! port=""
	pids+=("$pid")
	for _ in $(seq 50); do
		port=$(sed -n 's/^port //p' "$tmp/recv")
		[ -n "$port" ] && break
		sleep 0.1
	done
	"${send[@]}" --key "$key" --bind 127.0.0.1 "$@" "$kind" "127.0.0.1:$port"
	wait "$pid"
	local out
	out=$(sed -n '2p' "$tmp/recv")
	[ "$out" = "$want" ]; ok $? "UDP $kind: $want" || show "$(cat "$tmp/recv")"
}
udp valid "ok name=n1 inc=5 seq=9 leaving=0 truncated=0 owned=203.0.113.5" --name n1 \
	--incarnation 5 --sequence 9 --owned 203.0.113.5
udp oversize "drop oversize"

echo "1..$n"
exit $failed
