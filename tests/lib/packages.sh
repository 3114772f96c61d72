# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# packages.sh: the .deb and .rpm packages, built once per source tree and shared by the
# tests that use them (tests/integration/packages.sh, tests/e2e/booted.sh).
#
#   pkg_build    make sure $top_builddir/pkg-build holds the packages of the current
#                sources: `make deb rpm` (from the dist tarball) runs when the key (a
#                hash of every file of the source tree outside build/, .git/ and tests/) differs
#                from the one the packages were built from; under flock, so tests running
#                in parallel build once and wait for each other. Sets PKG_DEB_DIR and
#                PKG_RPM_DIR; prints nothing on stdout.
pkg_key() {
        (cd "$top_srcdir" && find . \( -path ./build -o -path ./.git -o -path ./tests -o -name 'autom4te.cache' \) -prune \
                -o -type f ! -name '*.log' ! -name '*.trs' -print0 | LC_ALL=C sort -z |
                xargs -0 sha256sum | sha256sum | cut -c1-16)
}

pkg_build() {
        local dir=$top_builddir/pkg-build key rc
        PKG_DEB_DIR=$dir/deb
        PKG_RPM_DIR=$dir/rpm/RPMS
        key=$(pkg_key) || return 1
        mkdir -p "$dir" || return 1
        (
                flock -w 900 9 || { echo "packages: cannot lock $dir.lock" >&2; exit 1; }
                [ "$(cat "$dir/key" 2>/dev/null)" = "$key" ] && exit 0
                rm -f "$dir/key"
                echo "packages: building .deb and .rpm (key $key)" >&2
                make -C "$top_builddir" deb rpm >"$top_builddir/pkg-build.log" 2>&1 ||
                        { tail -n 30 "$top_builddir/pkg-build.log" >&2; exit 1; }
                echo "$key" >"$dir/key"
        ) 9>"$dir.lock"
        rc=$?
        return $rc
}
