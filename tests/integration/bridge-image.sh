#!/bin/bash
# SPDX-License-Identifier: MIT
# The container image (k8s-bridge/Containerfile) built by scripts/image.sh, as `make image`
# does (buildah, vfs, chroot isolation, the Debian base made locally and cached): mounted
# with buildah, it holds /usr/bin/mlbd-bridge and every shared library the dynamic loader
# needs for it (the loader's --list run in the image's root: nothing "not found", nothing
# from outside), no shell and no package manager; its configured user is numeric and not
# root; the bridge prints this tree's version when run in the image's root, by chroot as
# that user and by `buildah run --isolation chroot`; and the same binary, run from the
# image's root against a real API server (in-cluster files bind-mounted, as in a pod),
# syncs and gives a Service its address.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/daemon.sh"
. "$(dirname "$0")/../lib/kube.sh"
. "$(dirname "$0")/../lib/bridge.sh"
lan_require_root buildah mmdebstrap chroot unshare
kube_require

IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/mlbd-test/image}
export IMAGE_CACHE
version=$(sed -n 's/^AC_INIT(\[mlbd\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
image=localhost/mlbd-bridge:$version
b() { buildah --root "$IMAGE_CACHE/storage" --runroot "$IMAGE_CACHE/run" --storage-driver vfs "$@"; }
ctr=
BPID=
stop_bridge() {
        local i
        [ -n "$BPID" ] || return 0
        kill -TERM "$BPID" 2>/dev/null
        for ((i = 0; i < 100; i++)); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BPID" 2>/dev/null
        wait "$BPID" 2>/dev/null
        BPID=
}
cleanup() {
        stop_bridge
        kube_stop
        if [ -n "$ctr" ]; then
                b umount "$ctr" >/dev/null 2>&1
                b rm "$ctr" >/dev/null 2>&1
        fi
        lan_cleanup
}
lan_setup node1 || { echo "Bail out! lan_setup failed"; exit 1; }
tmp=$(lan_tmpdir)
trap cleanup EXIT

t0=$SECONDS
"$top_srcdir/scripts/image.sh" "$tmp/image.oci.tar" >"$tmp/image.log" 2>&1
rc=$?
tap_diag "$(grep -v '^ar:' "$tmp/image.log")"
tap_is "$rc" 0 "scripts/image.sh builds $image ($((SECONDS - t0)) s)"
[ "$rc" -eq 0 ] || { tap_done; exit 1; }
tap_ok "and writes it as an OCI archive" sh -c 'tar -tf "$1" index.json >/dev/null' _ "$tmp/image.oci.tar"
tap_diag "image size $(b images --format '{{.Size}}' "$image")"
ctr=$(b from --pull-never --quiet "$image") && mnt=$(b mount "$ctr") ||
        { echo "Bail out! buildah from/mount $image"; exit 1; }
tap_ok "the image holds /usr/bin/mlbd-bridge, executable" test -x "$mnt/usr/bin/mlbd-bridge"
chroot "$mnt" /lib64/ld-linux-x86-64.so.2 --list /usr/bin/mlbd-bridge >"$tmp/libs" 2>&1
tap_is "$?" 0 "the dynamic loader in the image resolves the bridge's libraries"
tap_diag "$(cat "$tmp/libs")"
tap_is "$(grep -c 'not found' "$tmp/libs")" 0 "none is missing"
# every library the host's loader names for the same binary (by soname) is in the image
need=$(ldd "$mnt/usr/bin/mlbd-bridge" | awk '/=>/ { print $1 }' | sort)
have=$(awk '/=>/ { print $1 }' "$tmp/libs" | sort)
tap_is "$have" "$need" "the image's libraries are exactly those ldd lists ($(wc -l <<<"$need"))"
missing=
for f in $(awk '/=> \// { print $3 }' "$tmp/libs"); do
        [ -e "$mnt$f" ] || missing+=" $f"
done
tap_is "$missing" "" "each resolves to a file of the image"
tap_ok "no shell in the image" not test -e "$mnt/bin/sh"
tap_ok "no package manager in the image" not test -e "$mnt/usr/bin/apt-get" -o -e "$mnt/usr/bin/dpkg"
user=$(b inspect --type image --format '{{.OCIv1.Config.User}}' "$image")
tap_ok "the image's user is numeric and not root ($user)" bash -c '[[ $1 =~ ^[1-9][0-9]*:[0-9]+$ ]]' _ "$user"
tap_is "$(b inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$image")" "[/usr/bin/mlbd-bridge]" \
        "its entrypoint is the bridge"
tap_is "$(chroot --userspec="$user" "$mnt" /usr/bin/mlbd-bridge --version 2>&1)" "mlbd-bridge $version" \
        "mlbd-bridge --version in the image's root, as $user, prints $version"
tap_is "$(b run --isolation chroot "$ctr" -- /usr/bin/mlbd-bridge --version 2>&1)" "mlbd-bridge $version" \
        "and in buildah run --isolation chroot"

# The image's bridge against a real API server, as in a pod: the service-account folder
# and the node's /run/mlbd bind-mounted into the image's root in a private mount namespace.
kube_start "$tmp/kube" >"$tmp/kube-start.log" 2>&1 || { cat "$tmp/kube-start.log"; echo "Bail out! control plane"; exit 1; }
bridge_apply_rbac "$tmp/sa.kubeconfig" >/dev/null || { echo "Bail out! RBAC"; exit 1; }
sa=$tmp/sa
dir=$tmp/node1
mkdir -p "$sa" "$dir"
sed -n 's/^    token: //p' "$tmp/sa.kubeconfig" | tr -d '\n' >"$sa/token"
cp "$KUBE_CA" "$sa/ca.crt"
echo mlbd-system >"$sa/namespace"
mkdir -p "$mnt/var/run/secrets/kubernetes.io/serviceaccount" "$mnt/run/mlbd"
kube_node node1 192.0.2.1 >/dev/null || { echo "Bail out! node"; exit 1; }
k create namespace demo >/dev/null
daemon_conf "$dir" node1 "" || { echo "Bail out! config"; exit 1; }
# As the DaemonSet does: the image's user with the socket's group as a supplementary
# group, which is mlbd's socket_group and admin_group (here the host's "nogroup").
grp=$(getent group nogroup | cut -d: -f3)
sed -i "s/^socket_group = root$/socket_group = nogroup\nadmin_group = nogroup/" "$dir/mlbd.conf"
daemon_start node1 "$dir" || { echo "Bail out! mlbd"; exit 1; }
unshare -m --propagation private sh -c '
        mount --bind "$1" "$2/var/run/secrets/kubernetes.io/serviceaccount" &&
        mount --bind "$3" "$2/run/mlbd" && shift 3 && exec "$@"' _ "$sa" "$mnt" "$dir" \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="${KUBE_SERVER##*:}" \
        NODE_NAME=node1 chroot --userspec="$user" --groups="$grp" "$mnt" /usr/bin/mlbd-bridge \
        --lease-duration 4 --renew-deadline 3 --retry-period 0.5 --listen 127.0.0.1:0 \
        >>"$dir/bridge.log" 2>&1 &
BPID=$!
tap_ok "the image's bridge, in-cluster, lists all four kinds and syncs" \
        bridge_wait_log "$dir" 'synced with the API server' 30
grep -q 'synced with the API server' "$dir/bridge.log" || tap_diag "$(tail -n 20 "$dir/bridge.log")"
tap_ok "as $user with group $grp it connects to mlbd through /run/mlbd/mlbd.sock" bridge_wait_log "$dir" 'connected to mlbd at /run/mlbd/mlbd.sock' 10
printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"demo"},"spec":{"type":"LoadBalancer","selector":{"app":"web"},"ports":[{"port":80}]}}\n' |
        k apply -f - >/dev/null
ip=$(wait_svc_ip demo web 20)
tap_is "$(grep -c forbidden "$dir/bridge.log")" 0 "mlbd took its requests (admin_group)"
tap_ok "a Service gets its address from it ($ip)" bash -c '[[ $1 =~ ^192\.0\.2\.(1[5-9][0-9]|200)$ ]]' _ "$ip"
stop_bridge
tap_done
