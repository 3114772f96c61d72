# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# nspawn.sh: boot real systemd in a container (systemd-nspawn) for integration tests.
# Source it from a bash test; it defines functions only and installs no trap (call
# nspawn_cleanup from the test's own EXIT trap).
#
#   nspawn_root_cached          print the pristine bookworm root, building it with mmdebstrap
#                               when missing (under $NSPAWN_CACHE, keyed by the package list,
#                               built into a temporary directory and renamed, under flock)
#   nspawn_root_new DIR         a writable per-run root for the test: DIR/root is an overlay
#                               (lower: the pristine cache, upper: DIR/upper) when overlayfs
#                               works there, else a `cp -a --reflink=auto` copy; the cache is
#                               never written to. The overlay is mounted only inside the
#                               container's private mount namespace (see nspawn_boot).
#   nspawn_root_prepare DIR     nspawn_root_new DIR, then NSPAWN_R = the directory where
#                               files for the container's root are written before the boot
#                               (nspawn_root_dir); a diagnostic says how long it took and
#                               whether it is an overlay or a copy. Call it in the test's
#                               own shell (not in $(...)): NSPAWN_DIRS must be recorded
#   nspawn_install_build R      the test build (ASan+UBSan) laid out in root R as the .deb
#                               lays out the package: $top_builddir/mlbd as /usr/sbin/mlbd,
#                               mlbctl as /usr/bin/mlbctl (when built), systemd/mlbd.service
#                               in /etc/systemd/system with an empty mlbd.service.d for
#                               drop-ins, systemd/mlbd.sysusers as /usr/lib/sysusers.d/mlbd.conf,
#                               and /etc/mlbd (for systemd-notify.sh and systemd-journal.sh;
#                               tests/e2e installs the real packages instead)
#   nspawn_apt_repo DIR ITEM...
#                               a file repository in DIR (the .debs and a Packages index by
#                               dpkg-scanpackages; `deb [trusted=yes] file:DIR ./`) of every
#                               package that installing ITEMs (names or ./file.deb paths) into
#                               the cached root needs beyond what the root holds: the host's
#                               apt resolves them against the root's dpkg status
#                               (apt-get -s -o Dir::State::status=ROOT/var/lib/dpkg/status),
#                               each .deb is taken from the host's apt cache
#                               (/var/cache/apt/archives) or else fetched once with
#                               `apt-get download` from the host's mirror into
#                               $NSPAWN_CACHE/debs (under flock). The given .deb files are not
#                               put in (the test installs them by path). The containers are
#                               offline: this is how their apt gets real dependencies
#   nspawn_boot NAME DIR [NETNS]
#                               boot DIR's root in the background (machine NAME, network
#                               namespace /run/netns/NETNS if given, else the host's), wait
#                               (bounded, NSPAWN_BOOT_TIMEOUT s) until `systemctl
#                               is-system-running` says running or degraded; the init PID is
#                               printed and kept in NSPAWN_INIT[NAME], nspawn's in
#                               NSPAWN_PID[NAME]; the console goes to DIR/console.log
#   nspawn_exec NAME CMD...     run CMD inside the container (nsenter into all namespaces)
#   nspawn_stop NAME            poweroff, wait (bounded), then SIGKILL nspawn by its saved PID
#   nspawn_cleanup              stop every machine still running, remove per-run directories
#
# Mounts: systemd-nspawn runs under `unshare --mount --propagation private`, which mounts
# the tmpfs on /run/systemd/nspawn (this host's PID 1 is not systemd, and nspawn's shutdown
# needs it) and the overlay root inside that private namespace. They vanish with nspawn,
# even when the test is killed; the host's mount table is never touched.

NSPAWN_CACHE=${NSPAWN_CACHE:-/var/cache/mlbd-test}
NSPAWN_SUITE=${NSPAWN_SUITE:-bookworm}
# systemd + what `systemctl` needs, procps for /bin/kill (mlbd.service's ExecReload=), plus the runtime libraries of the test build of mlbd
# and mlbctl (ldd: libasan8 and libubsan1 because the test build uses the sanitizers;
# libmicrohttpd12 for mlbd's [metrics] listen, libnftables1 for its handover rules).
NSPAWN_PACKAGES=${NSPAWN_PACKAGES:-systemd,systemd-sysv,dbus,iproute2,procps,libasan8,libubsan1,libyaml-0-2,libinih1,libjansson4,libsodium23,libmnl0,libmicrohttpd12,libnftables1}
NSPAWN_BOOT_TIMEOUT=${NSPAWN_BOOT_TIMEOUT:-60}
NSPAWN_STOP_TIMEOUT=${NSPAWN_STOP_TIMEOUT:-20}
declare -A NSPAWN_PID=()
declare -A NSPAWN_INIT=()
NSPAWN_DIRS=()

# The cache directory's name carries a hash of suite + package list, so changing the list
# builds a new root instead of silently reusing an old one.
nspawn_root_cached() {
        local key dir tmp rc
        key=$(printf '%s %s' "$NSPAWN_SUITE" "$NSPAWN_PACKAGES" | sha256sum | cut -c1-12)
        dir=$NSPAWN_CACHE/$NSPAWN_SUITE-systemd-$key
        mkdir -p "$NSPAWN_CACHE" || return 1
        (
                flock -w 600 9 || { echo "nspawn: cannot lock $NSPAWN_CACHE/.lock" >&2; exit 1; }
                [ -x "$dir/lib/systemd/systemd" ] && exit 0
                tmp=$(mktemp -d "$dir.tmp.XXXXXX") || exit 1
                echo "nspawn: building $dir with mmdebstrap (once)" >&2
                if ! mmdebstrap --quiet --variant=minbase --include="$NSPAWN_PACKAGES" \
                        "$NSPAWN_SUITE" "$tmp" >"$tmp.log" 2>&1; then
                        echo "nspawn: mmdebstrap failed; its log:" >&2
                        tail -n 30 "$tmp.log" >&2
                        rm -rf "$tmp" "$tmp.log"
                        exit 1
                fi
                rm -f "$tmp.log"
                # The test containers need no machine identity of their own; systemd makes
                # a transient one when the file is empty.
                : >"$tmp/etc/machine-id"
                mv -T "$tmp" "$dir"
        ) 9>"$NSPAWN_CACHE/.lock"
        rc=$?
        [ $rc -eq 0 ] || return $rc
        echo "$dir"
}

# Overlayfs over the cache when the kernel accepts it for these directories (checked with a
# throwaway mount in a private namespace), else a reflink/plain copy.
nspawn_root_new() {
        local dir=$1 lower
        lower=$(nspawn_root_cached) || return 1
        mkdir -p "$dir/upper" "$dir/work" "$dir/root" || return 1
        NSPAWN_DIRS+=("$dir")
        if unshare --mount --propagation private sh -c \
                'mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/root"' \
                sh "$lower" "$dir" 2>/dev/null; then
                echo "$lower" >"$dir/lower"
        else
                rmdir "$dir/root" && cp -a --reflink=auto "$lower" "$dir/root" || return 1
        fi
}

# Files the test puts into the container before booting go to the upper layer (or the
# copy); this prints where ROOT-relative paths must be written.
nspawn_root_dir() {
        local dir=$1
        if [ -f "$dir/lower" ]; then echo "$dir/upper"; else echo "$dir/root"; fi
}

nspawn_root_prepare() {
        local dir=$1 t=$SECONDS
        nspawn_root_new "$dir" || return 1
        NSPAWN_R=$(nspawn_root_dir "$dir")
        echo "# container root ready in $((SECONDS - t)) s ($(cat "$dir/lower" 2>/dev/null || echo copy))"
}

nspawn_install_build() {
        local r=$1
        mkdir -p "$r/usr/sbin" "$r/usr/bin" "$r/etc/mlbd" "$r/etc/systemd/system/mlbd.service.d" \
                "$r/usr/lib/sysusers.d" || return 1
        install -m 755 "$top_builddir/mlbd" "$r/usr/sbin/mlbd" || return 1
        if [ -x "$top_builddir/mlbctl" ]; then
                install -m 755 "$top_builddir/mlbctl" "$r/usr/bin/mlbctl" || return 1
        fi
        install -m 644 "$top_srcdir/systemd/mlbd.service" "$r/etc/systemd/system/mlbd.service" &&
                install -m 644 "$top_srcdir/systemd/mlbd.sysusers" "$r/usr/lib/sysusers.d/mlbd.conf"
}

nspawn_apt_repo() {
        local dir=$1 lower sim name ver file esc rc dl own=" " items=()
        shift
        lower=$(nspawn_root_cached) || return 1
        mkdir -p "$dir" "$NSPAWN_CACHE/debs" || return 1
        for file in "$@"; do
                case $file in
                *.deb) # apt takes a path to a file only with a slash in it: make it absolute
                        own+="$(dpkg-deb -f "$file" Package) "
                        items+=("$(realpath "$file")")
                        ;;
                *) items+=("$file") ;;
                esac
        done
        sim=$(apt-get -s -q -o Dir::State::status="$lower/var/lib/dpkg/status" install "${items[@]}" 2>&1) ||
                { echo "nspawn: apt-get -s install $* against the root failed:" >&2; echo "$sim" >&2; return 1; }
        (
                flock -w 600 9 || { echo "nspawn: cannot lock $NSPAWN_CACHE/debs/.lock" >&2; exit 1; }
                # "Inst NAME [OLD] (VERSION ARCHIVE [ARCH])"
                sed -n 's/^Inst \([^ ]*\) \(\[[^]]*\] \)\{0,1\}(\([^ ]*\) .*/\1 \3/p' <<<"$sim" |
                        while read -r name ver; do
                                case $own in *" $name "*) continue ;; esac
                                esc=${ver//:/%3a}
                                file=$(ls "$NSPAWN_CACHE/debs/${name}_${esc}_"*.deb /var/cache/apt/archives/"${name}_${esc}_"*.deb 2>/dev/null | head -1)
                                if [ -z "$file" ]; then
                                        # into a fresh directory, then renamed: a killed run
                                        # leaves no half file in the cache
                                        dl=$(mktemp -d "$NSPAWN_CACHE/debs/.dl.XXXXXX") || exit 1
                                        (cd "$dl" && apt-get download -q "$name=$ver" >/dev/null 2>"$dl/.log") ||
                                                { echo "nspawn: apt-get download $name=$ver failed:" >&2; cat "$dl/.log" >&2; rm -rf "$dl"; exit 1; }
                                        for file in "$dl"/*.deb; do mv "$file" "$NSPAWN_CACHE/debs/"; done
                                        rm -rf "$dl"
                                        file=$(ls "$NSPAWN_CACHE/debs/${name}_${esc}_"*.deb | head -1)
                                fi
                                cp "$file" "$dir/" || exit 1
                        done
        ) 9>"$NSPAWN_CACHE/debs/.lock"
        rc=$?
        [ $rc -eq 0 ] || return $rc
        (cd "$dir" && dpkg-scanpackages -m . >Packages 2>/dev/null)
}

# The child of nspawn PID that lives in another PID namespace (the container's PID 1).
nspawn_child_init() {
        local c self
        self=$(readlink /proc/self/ns/pid)
        for c in $(pgrep -P "$1"); do
                [ "$(readlink "/proc/$c/ns/pid" 2>/dev/null)" != "$self" ] || continue
                [ -n "$(readlink "/proc/$c/ns/pid" 2>/dev/null)" ] && echo "$c" && return 0
        done
        return 1
}

nspawn_boot() {
        local name=$1 dir=$2 netns=$3 pid init state i
        local -a net=()
        # A namespace of the test's own: the container may configure it (nspawn keeps
        # CAP_NET_ADMIN only for private networking otherwise).
        [ -n "$netns" ] && net=(--network-namespace-path="/run/netns/$netns" --capability=CAP_NET_ADMIN)
        # One line, exec'd: the background PID is systemd-nspawn's own.
        unshare --mount --propagation private sh -c '
                set -e
                dir=$1; shift
                mkdir -p /run/systemd/nspawn
                mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn
                if [ -f "$dir/lower" ]; then
                        mount -t overlay overlay \
                                -o "lowerdir=$(cat "$dir/lower"),upperdir=$dir/upper,workdir=$dir/work" \
                                "$dir/root"
                fi
                exec systemd-nspawn "$@"' sh "$dir" \
                --boot --register=no --keep-unit --quiet -M "$name" -D "$dir/root" \
                --console=read-only "${net[@]}" >"$dir/console.log" 2>&1 </dev/null &
        pid=$!
        NSPAWN_PID[$name]=$pid
        init=
        for ((i = 0; i < NSPAWN_BOOT_TIMEOUT * 10; i++)); do
                if ! kill -0 "$pid" 2>/dev/null; then
                        echo "nspawn: $name exited while booting; console:" >&2
                        tail -n 30 "$dir/console.log" >&2
                        return 1
                fi
                # nspawn's first child is a short-lived helper in our PID namespace; the
                # container's init is the child in a PID namespace of its own. Checked on
                # every round: a helper picked up early would fail nsenter forever.
                init=$(nspawn_child_init "$pid")
                if [ -n "$init" ]; then
                        NSPAWN_INIT[$name]=$init
                        state=$(nspawn_exec "$name" systemctl is-system-running 2>/dev/null)
                        case $state in running | degraded)
                                echo "$init"
                                return 0
                                ;;
                        esac
                fi
                sleep 0.1
        done
        echo "nspawn: $name not running after ${NSPAWN_BOOT_TIMEOUT}s (state '$state'); console:" >&2
        tail -n 30 "$dir/console.log" >&2
        [ -n "$init" ] && nspawn_exec "$name" systemctl --no-pager list-jobs >&2
        return 1
}

nspawn_exec() {
        local name=$1 init=${NSPAWN_INIT[$1]}
        shift
        [ -n "$init" ] || { echo "nspawn: $name is not booted" >&2; return 1; }
        nsenter -t "$init" -a "$@"
}

nspawn_stop() {
        local name=$1 pid=${NSPAWN_PID[$1]} i
        [ -n "$pid" ] || return 0
        if kill -0 "$pid" 2>/dev/null; then
                nspawn_exec "$name" systemctl --no-block poweroff >/dev/null 2>&1
                for ((i = 0; i < NSPAWN_STOP_TIMEOUT * 10; i++)); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.1
                done
                if kill -0 "$pid" 2>/dev/null; then
                        echo "nspawn: $name ignored poweroff for ${NSPAWN_STOP_TIMEOUT}s; killing" >&2
                        kill -KILL "$pid" 2>/dev/null
                fi
        fi
        wait "$pid" 2>/dev/null
        unset "NSPAWN_PID[$name]" "NSPAWN_INIT[$name]"
}

nspawn_cleanup() {
        local name dir
        for name in "${!NSPAWN_PID[@]}"; do
                nspawn_stop "$name"
        done
        for dir in "${NSPAWN_DIRS[@]}"; do
                rm -rf "$dir"
        done
        NSPAWN_DIRS=()
}
