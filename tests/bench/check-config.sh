#!/bin/bash
# SPDX-License-Identifier: MIT
# Times `mlbd --check-config` on a generated 1,000-pool file, native form and MetalLB form.
# Prints median and p95 wall time over RUNS runs (default 20) and the peak RSS.
#   usage: tests/bench/check-config.sh [PATH/TO/mlbd]
set -eu
mlbd=${1:-./mlbd}
RUNS=${RUNS:-20}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# 1,000 pools from documentation space only: 250 IPv4 /31s (192.0.2.0/24, 198.51.100.0/24)
# and 750 IPv6 /64s of 2001:db8::/32.
{
	echo "pools:"
	for i in $(seq 0 249); do
		net=$((i < 128 ? 2 : 100)); base=$((i < 128 ? 192 : 198)); mid=$((i < 128 ? 0 : 51))
		o=$(((i % 128) * 2))
		printf '  - name: v4-%d\n    addresses: [%d.%d.%d.%d/31]\n' "$i" "$base" "$mid" "$net" "$o"
	done
	for i in $(seq 0 749); do
		printf '  - name: v6-%d\n    priority: %d\n    addresses: ["2001:db8:%x::/64"]\n' "$i" $((i % 7)) "$i"
	done
} >"$dir/native.yaml"
{
	for i in $(seq 0 999); do
		printf -- '---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p%d\n  namespace: metallb-system\nspec:\n  addresses:\n  - 2001:db8:%x::/64\n' "$i" "$i"
		[ $((i % 4)) = 0 ] && printf '  serviceAllocation:\n    priority: %d\n    namespaces: [demo]\n' $((i % 9))
	done
	printf -- '---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: all\n  namespace: metallb-system\n'
} >"$dir/metallb.yaml"

time_one() { # file -> prints median and p95 in ms over RUNS runs
	printf '[mlbd]\npools = %s\n' "$1" >"$dir/mlbd.conf"
	"$mlbd" -c "$dir/mlbd.conf" --check-config >/dev/null || { echo "check-config failed on $1" >&2; exit 1; }
	local t=()
	for _ in $(seq "$RUNS"); do
		s=$(date +%s%N); "$mlbd" -c "$dir/mlbd.conf" --check-config >/dev/null; e=$(date +%s%N)
		t+=($(((e - s) / 1000)))
	done
	sorted=$(printf '%s\n' "${t[@]}" | sort -n)
	med=$(sed -n "$(((RUNS + 1) / 2))p" <<<"$sorted")
	p95=$(sed -n "$(((RUNS * 95 + 99) / 100))p" <<<"$sorted")
	rss=$(/usr/bin/time -f %M "$mlbd" -c "$dir/mlbd.conf" --check-config 2>&1 >/dev/null | tail -1)
	printf '%-28s %8.2f ms median %8.2f ms p95   peak RSS %s KiB\n' "$2" \
		"$(echo "$med / 1000" | bc -l)" "$(echo "$p95 / 1000" | bc -l)" "$rss"
}
echo "mlbd --check-config, 1,000 pools, $RUNS runs each"
time_one "$dir/native.yaml" "native form (1,000 pools)"
time_one "$dir/metallb.yaml" "MetalLB form (1,000 docs)"
