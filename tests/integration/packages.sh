#!/bin/bash
# SPDX-License-Identifier: MIT
# The packages as `make deb` and `make rpm` build them from the dist tarball (once per
# source tree, shared with tests/e2e/booted.sh: tests/lib/packages.sh): lintian --pedantic
# has 0 errors and 0 warnings (overrides carry their reasons), rpmlint no error but the
# missing signature; each binary package holds the files it should, the .rpm the same ones
# as the .deb; conffiles, dependencies, maintainer scripts. What the scripts do on a booted
# system is tests/e2e/booted.sh's part. Needs dpkg-buildpackage, lintian, rpmbuild, rpmlint.
. "$(dirname "$0")/../lib/lan.sh"
. "$(dirname "$0")/../lib/packages.sh"
not() { ! "$@"; }
top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
top_builddir=${top_builddir:-.}
for t in dpkg-buildpackage dh lintian rpmbuild rpmlint flock; do
        command -v $t >/dev/null || { echo "Bail out! $t is missing (scripts/deps)"; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlbd-pkg.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
T0=$SECONDS

pkg_build
tap_ok "make deb rpm built the packages from the dist tarball (or they are current)" test $? -eq 0
tap_diag "packages ready in $((SECONDS - T0)) s"
D=$PKG_DEB_DIR
R=$PKG_RPM_DIR
deb=$(ls "$D"/mlbd_*_*.deb 2>/dev/null | head -1)
bdeb=$(ls "$D"/mlbd-bridge_*_*.deb 2>/dev/null | head -1)
rpm=$(ls "$R"/*/mlbd-[0-9]*.rpm 2>/dev/null | head -1)
brpm=$(ls "$R"/*/mlbd-bridge-[0-9]*.rpm 2>/dev/null | head -1)
tap_ok "mlbd and mlbd-bridge .deb" test -f "$deb" -a -f "$bdeb"
tap_ok "mlbd and mlbd-bridge .rpm" test -f "$rpm" -a -f "$brpm"
[ -f "$deb" ] && [ -f "$rpm" ] || { tap_diag "$(tail -n 20 "$top_builddir/pkg-build.log")"; tap_done; }

# --- lintian ---
out=$(lintian --pedantic --tag-display-limit 0 "$D"/*.changes 2>&1 | grep -v 'running with root privileges')
tap_diag "lintian --pedantic: $(grep -c '^E:' <<<"$out") E, $(grep -c '^W:' <<<"$out") W, $(grep -c '^[IP]:' <<<"$out") I/P"
tap_ok "lintian --pedantic: no error" not grep -q '^E:' <<<"$out" || tap_diag "$out"
tap_ok "lintian --pedantic: no warning" not grep -q '^W:' <<<"$out" || tap_diag "$out"
for o in "$top_srcdir"/packaging/debian/*.lintian-overrides; do
        # every override line follows a comment giving its reason
        bad=$(awk '/^[^#]/ && prev !~ /^#/ { print FILENAME ":" FNR ": " $0 } { prev = $0 }' "$o")
        tap_ok "every override in ${o##*/} has its reason above it" test -z "$bad" || tap_diag "$bad"
done

# --- rpmlint ---
out=$(rpmlint "$rpm" "$brpm" 2>&1)
errs=$(grep ': E: ' <<<"$out" | grep -v ': E: no-signature')
tap_diag "rpmlint: $(grep -c ': E: ' <<<"$out") E ($(grep -c ': E: no-signature' <<<"$out") no-signature), $(grep -c ': W: ' <<<"$out") W"
tap_ok "rpmlint: no error but no-signature" test -z "$errs" || tap_diag "$errs"
w=$(grep ': W: ' <<<"$out" | grep -v 'invalid-license\|unstripped-binary\|manpage-not-compressed bz2\|no-manual-page-for-binary\|dangerous-command-in-%post chown')
tap_ok "rpmlint warnings are only the known ones (licence list, bz2 man pages, unstripped)" test -z "$w" || tap_diag "$w"

# --- file lists ---
# Regular files and symlinks, the way both formats name them; /lib is /usr/lib (usrmerge),
# Debian's doc and lintian directories and rpm's .build-id links are format-specific.
deb_files() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|; s|^/lib/|/usr/lib/|' |
        grep -v '^/usr/share/doc/\|^/usr/share/lintian/' | sort; }
rpm_files() { rpm -qlp --dump "$1" 2>/dev/null | awk '{ print $1, $5 }' |
        awk '$2 !~ /^04/ { print $1 }' | grep -v '/\.build-id' | sort; }
deb_files "$deb" >"$tmp/deb.list"
rpm_files "$rpm" >"$tmp/rpm.list"
deb_files "$bdeb" >"$tmp/bdeb.list"
rpm_files "$brpm" >"$tmp/brpm.list"
want_mlbd="/etc/mlbd/mlbd.conf
/etc/mlbd/pools.yaml
/usr/bin/mlbctl
/usr/lib/systemd/system/mlbd.service
/usr/lib/sysusers.d/mlbd.conf
/usr/lib/tmpfiles.d/mlbd.conf
/usr/sbin/mlbd
/usr/share/man/man5/mlbd-pools.yaml.5.gz
/usr/share/man/man5/mlbd.conf.5.gz
/usr/share/man/man8/mlbctl.8.gz
/usr/share/man/man8/mlbd.8.gz"
want_bridge="/usr/bin/mlbd-bridge
/usr/share/man/man8/mlbd-bridge.8.gz"
tap_is "$(cat "$tmp/deb.list")" "$want_mlbd" "mlbd .deb: the daemon, mlbctl, unit, sysusers, tmpfiles, configuration, 4 man pages"
tap_is "$(cat "$tmp/bdeb.list")" "$want_bridge" "mlbd-bridge .deb: /usr/bin/mlbd-bridge and mlbd-bridge(8)"
out=$(diff "$tmp/deb.list" "$tmp/rpm.list")
tap_ok "mlbd: rpm -qlp lists the same files as the .deb" test -z "$out" || tap_diag "$out"
out=$(diff "$tmp/bdeb.list" "$tmp/brpm.list")
tap_ok "mlbd-bridge: rpm -qlp lists the same files as the .deb" test -z "$out" || tap_diag "$out"
tap_ok "both ship the directory /etc/mlbd/pools.d" \
        eval "dpkg-deb -c '$deb' | grep ' ./etc/mlbd/pools.d/\$' >/dev/null && rpm -qlp '$rpm' 2>/dev/null | grep -qx /etc/mlbd/pools.d"
tap_ok "neither ships a cluster key (it is made per cluster by the postinst)" \
        eval "! grep -q cluster.key '$tmp/deb.list' '$tmp/rpm.list'"
# /lib/systemd/system on Debian 12 (systemd.pc), /usr/lib/systemd/system in the .rpm
tap_ok "the .deb has the unit where Debian 12's systemd looks (/lib/systemd/system)" \
        eval "dpkg-deb -c '$deb' | grep ' ./lib/systemd/system/mlbd.service\$' >/dev/null"

# --- conffiles, dependencies ---
tap_is "$(dpkg-deb -f "$deb" Package)/$(dpkg-deb -f "$bdeb" Package)" "mlbd/mlbd-bridge" "package names"
dpkg-deb -e "$deb" "$tmp/ctl"
tap_is "$(sort "$tmp/ctl/conffiles" | tr '\n' ' ')" "/etc/mlbd/mlbd.conf /etc/mlbd/pools.yaml " "deb conffiles: mlbd.conf and pools.yaml"
tap_is "$(rpm -qpc "$rpm" 2>/dev/null | sort | tr '\n' ' ')" "/etc/mlbd/mlbd.conf /etc/mlbd/pools.yaml " "rpm %config files: the same"
tap_ok "rpm: both are %config(noreplace)" \
        eval "rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' '$rpm' 2>/dev/null | grep -c '^/etc/mlbd/[a-z.]* cn\$' | grep -qx 2"
dep=$(dpkg-deb -f "$deb" Depends)
tap_diag "mlbd Depends: $dep"
for p in libsystemd0 libyaml-0-2 libinih1 libjansson4 libsodium23 libmnl0 libmicrohttpd12 libnftables1 procps systemd; do
        tap_ok "mlbd depends on $p" grep -qE "(^|, )$p( |,|$)" <<<"$dep"
done
bdep=$(dpkg-deb -f "$bdeb" Depends)
tap_ok "mlbd-bridge depends on libcurl4 and libmicrohttpd12 (shlibs)" \
        eval "grep -q 'libcurl4' <<<'$bdep' && grep -q 'libmicrohttpd12' <<<'$bdep'"
tap_ok "mlbd does not depend on libcurl (only the bridge talks to the API server)" \
        not grep -q 'libcurl' <<<"$dep"

# --- maintainer scripts (what they do on a booted system: tests/e2e/booted.sh) ---
pi=$tmp/ctl/postinst
tap_ok "postinst: systemd-sysusers before the key, the key before debhelper's start" \
        eval "awk '/systemd-sysusers/ { s = NR } /--gen-key/ { k = NR } /deb-systemd-invoke/ { d = NR } END { exit !(s && k && d && s < k && k < d) }' '$pi'"
tap_ok "postinst: the key only when absent, chowned to mlbd, with the copy instruction" \
        eval "grep -q '! -e \"\$KEY\"' '$pi' && grep -q 'chown mlbd:mlbd \"\$KEY\"' '$pi' && grep -q 'copy this file' '$pi'"
tap_ok "postinst: enables the unit and restarts it on upgrade" \
        eval "grep -q \"deb-systemd-helper enable 'mlbd.service'\" '$pi' && grep -q '_dh_action=restart' '$pi'"
tap_ok "prerm: stops the unit on remove" grep -q "deb-systemd-invoke stop 'mlbd.service'" "$tmp/ctl/prerm"
tap_ok "postrm purge: removes /var/lib/mlbd and /etc/mlbd" grep -q 'rm -rf /var/lib/mlbd /run/mlbd /etc/mlbd' "$tmp/ctl/postrm"
sc=$(rpm -qp --scripts "$rpm" 2>/dev/null)
tap_ok "rpm %post: the key when absent; systemctl preset mlbd.service" \
        eval "grep -q 'gen-key /etc/mlbd/cluster.key' <<<\"\$sc\" && grep -q 'preset mlbd.service' <<<\"\$sc\""
tap_ok "rpm %preun disables and stops, %postun try-restarts mlbd.service" \
        eval "grep -q 'disable --now mlbd.service' <<<\"\$sc\" && grep -q 'try-restart mlbd.service' <<<\"\$sc\""
for s in postinst postrm; do
        tap_ok "$s passes sh -n" sh -n "$tmp/ctl/$s"
done

# --- hardening of the packaged binaries (dpkg-buildflags via dh) ---
dpkg-deb -x "$deb" "$tmp/x"
tap_ok "the packaged mlbd is built with _FORTIFY_SOURCE (fortified calls present)" \
        eval "objdump -T '$tmp/x/usr/sbin/mlbd' | grep -q '_chk'"
tap_ok "and is PIE with full RELRO" \
        eval "readelf -h '$tmp/x/usr/sbin/mlbd' | grep -q 'DYN' && readelf -d '$tmp/x/usr/sbin/mlbd' | grep -q 'BIND_NOW\|FLAGS.*NOW'"
tap_ok "the packaged mlbd is not the sanitizer build" not eval "objdump -T '$tmp/x/usr/sbin/mlbd' | grep -q __asan"

tap_diag "total $((SECONDS - T0)) s"
tap_done
