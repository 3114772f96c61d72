#!/bin/bash
# SPDX-License-Identifier: MIT
# MetalLB drop-in (issue 10), against a real mlbd on a namespace LAN:
#   - a pools file holding only an L2Advertisement loads; mlbd runs, hands out nothing, and
#     a Service's allocation_failed says that no pool is configured;
#   - a requested address inside no pool is refused in words naming the annotation;
#   - a delete and a create in one write: the new Service gets the released address;
#   - pools_dir: the pool in pools.yaml, its L2Advertisement and a second pool in
#     pools.d/; --check-config sums up per file; a reload sees files added and removed;
#     a bad file changes nothing and the log names its FILE:LINE:COL.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
lan_require_root

lan_setup node1 client || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
log=$tmp/mlbd.log.run
reason_of() { # the reason of the allocation_failed for Service $2 in the session output $1
        grep '"allocation_failed"' <<<"$1" | grep "\"$2\"" | tail -1 |
                "$PY" -c 'import json,sys; print(json.load(sys.stdin)["reason"])'
}

# --- item 1: only an L2Advertisement (MetalLB keeps it apart from the pools) ---
daemon_conf "$tmp" node1
cat >"$tmp/pools.yaml" <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: example
  namespace: metallb-system
spec:
  ipAddressPools:
  - first-pool
EOF2
out=$("$MLBD" --check-config -c "$tmp/mlbd.conf" 2>&1)
tap_diag "$out"
tap_ok "--check-config accepts a file without pools" "$MLBD" --check-config -c "$tmp/mlbd.conf"
tap_ok "--check-config warns that no pool is configured" \
        grep -q "pools.yaml:1:1: warning: no IPAddressPool in the file: mlbd runs but hands out no address" <<<"$out"
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
tap_ok "the log carries the warning" grep -q "no IPAddressPool in the file" "$log"
out=$(daemon_session "$tmp" '"allocation_failed"' "$(upsert_msg 3 "$(svc_json demo web u1)")")
tap_is "$(reason_of "$out" demo/web)" \
        "no pool is configured: demo/web gets no address until a pool is added" \
        "allocation_failed says no pool is configured"
tap_ok "no address on eth0" not host_has_addr node1 192.0.2.150
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
daemon_stop TERM

# --- item 5: a refusal says exactly why, and where the request came from ---
daemon_conf "$tmp" node1
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
ann=$(svc_json demo asked u2)
ann=${ann/\"metadata\":\{/\"metadata\":\{\"annotations\":\{\"metallb.io/loadBalancerIPs\":\"198.51.100.7\"\},}
out=$(daemon_session "$tmp" '"allocation_failed"' "$(upsert_msg 3 "$ann")")
tap_is "$(reason_of "$out" demo/asked)" \
        "198.51.100.7 (requested by annotation metallb.io/loadBalancerIPs) is in no pool" \
        "address in no pool: the reason names the annotation"
out=$(daemon_session "$tmp" '"allocation_failed"' \
        "$(upsert_msg 4 "$(svc_json demo old u3 '"loadBalancerIP":"198.51.100.8"')")")
tap_is "$(reason_of "$out" demo/old)" \
        "198.51.100.8 (requested in spec.loadBalancerIP) is in no pool" \
        "address in no pool: the reason names spec.loadBalancerIP"

# --- item 4: a delete and a create in one write: the address goes to the new Service ---
out=$(daemon_session "$tmp" '"node_assigned".*demo/first' "$(upsert_msg 6 "$(svc_json demo first u5)")")
tap_ok "demo/first gets 192.0.2.150" grep -q '"allocated".*demo/first.*192\.0\.2\.150' <<<"$out"
# "zz" sorts after "aa": without release-before-allocate aa would get .151
both=$(printf '{"op":"delete","id":7,"kind":"Service","namespace":"demo","name":"first","uid":"u5"}\n%s' \
        "$(upsert_msg 8 "$(svc_json aa replaced u6)")")
out=$(daemon_session "$tmp" '"allocated".*aa/replaced' "$both")
tap_diag "$(grep -E '"(allocated|released)"' <<<"$out")"
tap_ok "demo/first released" grep -q '"released".*demo/first.*192\.0\.2\.150' <<<"$out"
tap_ok "aa/replaced gets the released 192.0.2.150" grep -q '"allocated".*aa/replaced.*192\.0\.2\.150' <<<"$out"
daemon_stop TERM

# --- item 2: pools_dir ---
pools_reply() {
        daemon_ctl "$tmp" --until '"op": *"pools"' --timeout 2 "$TEST_HELLO" '{"op":"pools","id":"p"}' |
                grep '"op": *"pools"' | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(" ".join(sorted(p["name"] for p in j["pools"])))'
}
daemon_conf "$tmp" node1
sed -i "s|^pools_dir = .*|pools_dir = $tmp/pools.d|" "$tmp/mlbd.conf"
mkdir -p "$tmp/pools.d"
cat >"$tmp/pools.yaml" <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: metallb-system
spec:
  addresses:
  - 192.0.2.150-192.0.2.160
EOF2
cat >"$tmp/pools.d/10-l2.yaml" <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: example
  namespace: metallb-system
spec:
  ipAddressPools:
  - first-pool
EOF2
out=$("$MLBD" --check-config -c "$tmp/mlbd.conf" 2>&1)
tap_diag "$out"
tap_ok "--check-config: pools.yaml summed up on its own line" \
        grep -qx "$tmp/pools.yaml: OK, 1 pool (MetalLB form): 11 IPv4 addresses" <<<"$out"
tap_ok "--check-config: pools.d/10-l2.yaml on its own line" \
        grep -qx "$tmp/pools.d/10-l2.yaml: OK, 0 pools (MetalLB form), 1 L2Advertisement" <<<"$out"
daemon_start node1 "$tmp" || { echo "Bail out! mlbd did not start"; exit 1; }
out=$(daemon_session "$tmp" '"node_assigned".*demo/split' "$(upsert_msg 3 "$(svc_json demo split u7)")")
tap_ok "the pool of pools.yaml, announced by pools.d's L2Advertisement: 192.0.2.150 on eth0" \
        wait_addr node1 192.0.2.150 5
tap_is "$(pools_reply)" "first-pool" "pools: first-pool"
cat >"$tmp/pools.d/20-more.yaml" <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: more
spec:
  addresses:
  - 198.51.100.16/28
EOF2
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do [ "$(pools_reply)" = "first-pool more" ] && break; sleep 0.1; done
tap_is "$(pools_reply)" "first-pool more" "reload sees a file added to pools.d"
cat >"$tmp/pools.d/30-bad.yaml" <<'EOF2'
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: bad
spec:
  addresses:
  - 198.51.100.20/32
EOF2
lines_before=$(wc -l <"$log")
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do
        tail -n +$((lines_before + 1)) "$log" | grep -q "30-bad.yaml:7:5" && break
        sleep 0.1
done
new=$(tail -n +$((lines_before + 1)) "$log")
tap_diag "$new"
tap_ok "a bad file: the log names 30-bad.yaml:7:5 and the other file's place" \
        grep -q "30-bad.yaml:7:5: .*198.51.100.20 overlaps 198.51.100.16/28 of pool \"more\" at $tmp/pools.d/20-more.yaml:7:5" <<<"$new"
tap_is "$(pools_reply)" "first-pool more" "a bad file changes nothing"
tap_ok "192.0.2.150 still on eth0" host_has_addr node1 192.0.2.150
rm "$tmp/pools.d/30-bad.yaml" "$tmp/pools.d/20-more.yaml"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do [ "$(pools_reply)" = "first-pool" ] && break; sleep 0.1; done
tap_is "$(pools_reply)" "first-pool" "reload sees files removed from pools.d"
tap_ok "mlbd still running" kill -0 "$DAEMON_PID"
daemon_stop TERM

tap_done
