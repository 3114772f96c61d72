#!/bin/bash
# SPDX-License-Identifier: MIT
# mlbd --check-config end to end: the installed example files, the seed's typo, a file with
# five different errors, special ranges, a bad mlbd.conf, counts of large IPv6 pools. Prints TAP.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
mlbd=$top_builddir/mlbd
data=$top_srcdir/tests/data/cli
n=0
failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
run() { out=$("$mlbd" "$@" 2>&1); rc=$?; }
has() { grep -qF -- "$1" <<<"$out"; }
show() { sed 's/^/#   /' <<<"$out"; }

run -c "$top_srcdir/etc/mlbd.conf" --check-config
ok $rc "the example etc/mlbd.conf with etc/pools.yaml is valid"
has "pool cheap: 51 IPv4 addresses (172.16.16.150-172.16.16.200)"; r=$?
ok $r "the summary shows the seed's pool with its 51 addresses" || show

run -c "$data/seed-typo.conf" --check-config
[ $rc = 1 ]; ok $? "the seed's typo exits 1"
has "seed-typo.yaml:8:5: range end 172.16.16.20 is below its start 172.16.16.150"; r=$?
ok $r "the seed's typo is reported at seed-typo.yaml:8:5 with the reason" || show

run -c "$data/five-errors.conf" --check-config
[ $rc = 1 ]; ok $? "five errors exit 1"
lines=$(grep -c '^[^ ]*five-errors.yaml:[0-9]*:[0-9]*: ' <<<"$out")
[ "$lines" = 5 ]; ok $? "five different errors print five FILE:LINE:COL lines (got $lines)" || show
for want in "five-errors.yaml:4:" "five-errors.yaml:7:" "five-errors.yaml:8:" \
	"five-errors.yaml:13:" "five-errors.yaml:17:"; do
	has "$want"; ok $? "an error is reported at $want" || show
done

run -c "$data/special.conf" --check-config
[ $rc = 1 ]; ok $? "a pool with loopback and link-local addresses exits 1"
has "special.yaml:6:9: 127.0.0.1 is in 127.0.0.0/8 (loopback); a pool cannot hold these addresses"
ok $? "127.0.0.1 is refused at special.yaml:6:9, naming 127.0.0.0/8" || show
has "special.yaml:7:9: fe80::/64 is in fe80::/10 (link-local); a pool cannot hold these addresses"
ok $? "fe80::/64 is refused at special.yaml:7:9, naming fe80::/10" || show

run -c "$data/bad-conf.conf" --check-config
[ $rc = 1 ]; ok $? "a bad mlbd.conf exits 1"
lines=$(grep -c '^[^ ]*bad-conf.conf:[0-9]*:[0-9]*: ' <<<"$out")
[ "$lines" = 4 ]; ok $? "four mlbd.conf errors print four lines (got $lines)" || show
has "bad-conf.conf:6:"; ok $? "garp_count out of range is reported at line 6" || show
has "bad-conf.conf:7:1: unknown key \"garp_cnt\""; ok $? "the unknown key names line 7" || show

run -c "$data/good-v6.conf" --check-config
ok $rc "a dual-stack file is valid" || show
has "pool web: 51 IPv4 + 2^64 IPv6 addresses (192.0.2.150-192.0.2.200, 2001:db8:1::/64)"
ok $? "a /64 is counted as 2^64" || show
has "pool big: 2^80 IPv6 addresses (2001:db8:2::/48), on request only"
ok $? "a /48 is counted as 2^80" || show

run -c "$data/does-not-exist.conf" --check-config
[ $rc = 1 ]; ok $? "a missing mlbd.conf exits 1"
has "does-not-exist.conf"; ok $? "and names the file" || show

run --version
has "mlbd 0."; ok $? "--version prints the version"
run --no-such-option
[ $rc = 2 ]; ok $? "an unknown option exits 2"

echo "1..$n"
exit $failed
