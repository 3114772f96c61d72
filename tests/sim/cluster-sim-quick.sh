#!/bin/bash
# SPDX-License-Identifier: MIT
# Quick run of the cluster simulation (10 nodes, 10 simulated minutes, loss 0, 0.05 and 0.2):
# the program checks its own invariants (only a dead or joining node's addresses move; no
# loss means no false death, no disagreement and detection after exactly dead_after; the
# precomputed rank matches rdv_owner()), and this script adds that the output is
# deterministic for a seed and changes with the seed. Prints TAP.
top_builddir=${top_builddir:-.}
sim="$top_builddir/tests/sim/cluster-sim"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "1..5"
n=0
say() { # cond description
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

"$sim" --quick >"$tmp/a" 2>&1
rc=$?
sed 's/^/# /' "$tmp/a"
say $rc "cluster-sim --quick exits 0"

checks=$(grep -c '^invariant .*: ok$' "$tmp/a")
failed=$(grep -c '^invariant .*: FAILED$' "$tmp/a")
[ "$checks" -ge 12 ] && [ "$failed" -eq 0 ]
say $? "12 or more invariants checked, none failed ($checks ok, $failed failed)"

grep -q "^N=10 loss=0.00: 600 s simulated" "$tmp/a" && grep -q "^N=10 loss=0.05: 600 s simulated" "$tmp/a" && grep -q "^N=10 loss=0.20: 600 s simulated" "$tmp/a"
say $? "loss rates 0, 0.05 and 0.2 reported"

"$sim" --quick >"$tmp/b" 2>&1
cmp -s "$tmp/a" "$tmp/b"
say $? "same seed, same output"

"$sim" --quick --seed 2 >"$tmp/c" 2>&1
! cmp -s "$tmp/a" "$tmp/c"
say $? "another seed, other output"
