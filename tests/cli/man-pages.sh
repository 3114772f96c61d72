#!/bin/bash
# SPDX-License-Identifier: MIT
# The five man pages (mlbd(8), mlbctl(8), mlbd-bridge(8), mlbd.conf(5),
# mlbd-pools.yaml(5)) render without a single groff warning at 80 columns
# (`MANWIDTH=80 man --warnings -l`), each names itself in NAME and every page it refers to
# as NAME(S) in SEE ALSO is one of them or a known system page; a page with a broken
# request is caught (so the check can fail). Needs man-db. Prints TAP.
set -u
top_srcdir=${top_srcdir:-.}
n=0
failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
show() { sed 's/^/#   /' <<<"$1"; }
command -v man >/dev/null || { echo "Bail out! man is missing (Debian package man-db, scripts/deps)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlbd-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
render() { MANWIDTH=80 MAN_KEEP_FORMATTING= man --warnings -l "$1" 2>"$tmp/err" >"$tmp/out"; }

pages="mlbd.8 mlbctl.8 mlbd-bridge.8 mlbd.conf.5 mlbd-pools.yaml.5"
for p in $pages; do
        f=$top_srcdir/man/$p
        render "$f"
        rc=$?
        [ $rc = 0 ] && [ ! -s "$tmp/err" ]
        ok $? "$p renders without warnings ($(wc -l <"$tmp/out") lines)" || show "$(cat "$tmp/err")"
        name=${p%.*}
        grep -q "^NAME" "$tmp/out" && sed -n '/^NAME/,/^[A-Z]/p' "$tmp/out" | grep -q "^ *$name "
        ok $? "$p: NAME says $name"
        awk 'length > 80 { exit 1 }' "$tmp/out"
        ok $? "$p: no line wider than 80 columns"
done
# Every man page of the programs and files is installed (dist_man_MANS) and there are five.
tap=$(ls "$top_srcdir"/man/ | sort | tr '\n' ' ')
[ "$tap" = "mlbctl.8 mlbd-bridge.8 mlbd-pools.yaml.5 mlbd.8 mlbd.conf.5 " ]
ok $? "man/ holds the five pages"
# SEE ALSO of each page only names pages that exist here or on a Debian system.
known=" mlbd(8) mlbctl(8) mlbd-bridge(8) mlbd.conf(5) mlbd-pools.yaml(5) systemd.service(5) systemctl(1) systemd-sysusers(8) journalctl(1) kubectl(1) systemd.exec(5) sd_notify(3) ip(8) arping(8) systemd(1) "
for p in $pages; do
        render "$top_srcdir/man/$p"
        refs=$(sed -n '/^SEE ALSO/,/^[A-Z]/p' "$tmp/out" | grep -o '[a-z][a-z0-9._-]*([0-9])' | sort -u)
        bad=
        for r in $refs; do
                case $known in *" $r "*) ;; *) bad="$bad $r" ;; esac
        done
        [ -z "$bad" ]; ok $? "$p: SEE ALSO names known pages (${refs//$'\n'/ })" || show "unknown:$bad"
done
# The gate can fail: an unknown request and a bad escape are reported.
printf '.TH X 8\n.SH NAME\nx \\- y\n.XYZZY\n\\*[nosuchstring]\n' >"$tmp/bad.8"
render "$tmp/bad.8"
[ -s "$tmp/err" ]; ok $? "a page with an unknown macro gives warnings ($(head -c 80 "$tmp/err" | tr '\n' ' '))"
echo "1..$n"
exit $failed
