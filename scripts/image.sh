#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/image.sh [OUT.tar]: builds the container image localhost/mlbd-bridge:VERSION from
# k8s-bridge/Containerfile with buildah (vfs storage, chroot isolation: no daemon, no
# overlayfs, no user namespaces needed) and, given OUT.tar, also writes it there as an OCI
# archive (`ctr -n k8s.io images import OUT.tar`, `podman load -i OUT.tar`).
#
# No registry is needed: the build stage's base, a Debian 12 root with the -dev packages
# (BASE_PACKAGES), is made here with mmdebstrap and imported into buildah as
# localhost/mlbd-build-base:KEY, KEY a hash of suite and packages. It is made only when
# missing. Everything lives under IMAGE_CACHE (default /var/cache/mlbd-test/image):
# buildah's storage (IMAGE_CACHE/storage, run state IMAGE_CACHE/run), so the host's own
# container storage is never touched. Use the same roots to look at the image:
#   buildah --root /var/cache/mlbd-test/image/storage --runroot /var/cache/mlbd-test/image/run \
#           --storage-driver vfs images
# Needs root, buildah and mmdebstrap (scripts/deps).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-}
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/mlbd-test/image}
SUITE=${IMAGE_SUITE:-bookworm}
BASE_PACKAGES=${BASE_PACKAGES:-build-essential,autoconf,automake,pkg-config,libsystemd-dev,libyaml-dev,libinih-dev,libjansson-dev,libsodium-dev,libmnl-dev,libcurl4-openssl-dev,libmicrohttpd-dev,libnftables-dev}
version=$(sed -n 's/^AC_INIT(\[mlbd\], \[\([^]]*\)\].*/\1/p' "$src/configure.ac")
IMAGE=${IMAGE:-localhost/mlbd-bridge:$version}
key=$(printf '%s %s' "$SUITE" "$BASE_PACKAGES" | sha256sum | cut -c1-12)
base=localhost/mlbd-build-base:$key

mkdir -p "$IMAGE_CACHE"
b() { buildah --root "$IMAGE_CACHE/storage" --runroot "$IMAGE_CACHE/run" --storage-driver vfs "$@"; }

# One build at a time per cache (the tests and `make image` may run together).
exec 9>"$IMAGE_CACHE/.lock"
flock -w 900 9 || { echo "image.sh: cannot lock $IMAGE_CACHE/.lock" >&2; exit 1; }

if ! b inspect --type image "$base" >/dev/null 2>&1; then
        echo "image.sh: making $base with mmdebstrap (once)"
        tar=$IMAGE_CACHE/base-$key.tar
        if [ ! -s "$tar" ]; then
                mmdebstrap --quiet --variant=apt --include="$BASE_PACKAGES" "$SUITE" - \
                        >"$tar.tmp" || { rm -f "$tar.tmp"; exit 1; }
                mv "$tar.tmp" "$tar"
        fi
        ctr=$(b from --quiet scratch)
        trap 'b rm "$ctr" >/dev/null 2>&1 || :' EXIT
        b add --quiet "$ctr" "$tar" /
        b config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
        b commit --quiet --rm "$ctr" "$base" >/dev/null
        trap - EXIT
        rm -f "$tar" # the image holds it now
fi

echo "image.sh: building $IMAGE"
# No --layers: with vfs every cached layer is a full copy of the root (about 500 MB for
# the build stage); the build stage takes under a minute, so it is built every time, and
# the image this one replaces is removed.
b bud --quiet --isolation chroot --layers=false --build-arg "BASE=$base" \
        -f "$src/k8s-bridge/Containerfile" -t "$IMAGE" "$src" >/dev/null
b rmi --prune >/dev/null 2>&1 || :
b images --format '{{.Name}}:{{.Tag}} {{.ID}} {{.Size}}' "$IMAGE"
if [ -n "$out" ]; then
        rm -f "$out"
        b push --quiet "$IMAGE" "oci-archive:$out:$IMAGE"
        echo "image.sh: wrote $out"
fi
