# SPDX-License-Identifier: MIT
# pair.sh: two mlbd nodes (node1, node2) sharing one Service address, VIP (192.0.2.150),
# for the handover tests. Sourced after lan.sh and daemon.sh.
#   pair_lan PROTO PORT the LAN (node1, node2, client), tmp, the cluster key, PID (by
#                       node), SYNC (a sync, id 3, of one Service with VIP in its status
#                       and one PROTO PORT port) and each node's mlbd.conf
#   start_node NODE     start mlbd on NODE, record its PID, send SYNC; fails if no reply
#   stop_node NODE      SIGTERM, wait for the exit
#   holder              the nodes that hold VIP on eth0, space separated
#   wait_holder NODE    wait (bounded, 10 s) until exactly NODE holds VIP
VIP=192.0.2.150
pair_lan() {
        local n svc
        lan_setup node1 node2 client || return 1
        tmp=$(lan_tmpdir)
        export DAEMON_KEY=$tmp/cluster.key
        declare -gA PID
        svc="{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\",\"uid\":\"u-web\"},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"protocol\":\"$1\",\"port\":$2}]},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"$VIP\"}]}}}"
        SYNC="{\"op\":\"sync\",\"id\":3,\"services\":[$svc],\"endpointslices\":[],\"nodes\":[],\"namespaces\":[]}"
        for n in node1 node2; do
                daemon_conf "$tmp/$n" "$n" "node1=192.0.2.1, node2=192.0.2.2" || return 1
        done
}
start_node() {
        daemon_start "$1" "$tmp/$1" || return 1
        PID[$1]=$DAEMON_PID
        daemon_ctl "$tmp/$1" --until '"id": *3' --timeout 10 "$TEST_HELLO" "$SYNC" | grep -q '"id": *3'
}
stop_node() {
        DAEMON_PID=${PID[$1]}
        daemon_stop TERM
        PID[$1]=
}
holder() {
        local n out=
        for n in node1 node2; do host_has_addr "$n" "$VIP" && out+="$n "; done
        echo "${out% }"
}
wait_holder() {
        local i
        for ((i = 0; i < 100; i++)); do
                [ "$(holder)" = "$1" ] && return 0
                sleep 0.1
        done
        return 1
}
