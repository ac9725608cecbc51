#!/bin/sh
# Installs or uninstalls keepalived-rs: binaries, man pages, init script, systemd unit,
# /etc/default/keepalived and a default configuration.
#
#   dist/install.sh install   [options]
#   dist/install.sh uninstall [options] [--purge]
#
# Options:
#   --prefix DIR       binaries under DIR/sbin and DIR/bin, man pages under DIR/share/man
#                      (default /usr)
#   --destdir DIR      stage everything under DIR (packaging); paths written into the init
#                      script and unit stay those of the final system
#   --sysconfdir DIR   init.d/, default/ and keepalived/ go here (default /etc for the /usr
#                      prefix, PREFIX/etc otherwise)
#   --runstatedir DIR  pid files (default /run)
#   --unitdir DIR      systemd unit directory (default /lib/systemd/system for the /usr
#                      prefix, PREFIX/lib/systemd/system otherwise)
#   --bin-dir DIR      take the built binaries from DIR instead of running
#                      `cargo build --release` (default: target/release after the build)
#   --purge            uninstall also removes the configuration and defaults files
#
# An existing keepalived.conf or /etc/default/keepalived is never overwritten, and
# uninstall keeps them unless --purge is given.
set -eu

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

action=${1:-}
[ -n "$action" ] || usage
shift

prefix=/usr
destdir=
sysconfdir=
runstatedir=/run
unitdir=
bindir_src=
purge=false
while [ $# -gt 0 ]; do
	case "$1" in
		--prefix) prefix=$2; shift 2 ;;
		--prefix=*) prefix=${1#*=}; shift ;;
		--destdir) destdir=$2; shift 2 ;;
		--destdir=*) destdir=${1#*=}; shift ;;
		--sysconfdir) sysconfdir=$2; shift 2 ;;
		--sysconfdir=*) sysconfdir=${1#*=}; shift ;;
		--runstatedir) runstatedir=$2; shift 2 ;;
		--runstatedir=*) runstatedir=${1#*=}; shift ;;
		--unitdir) unitdir=$2; shift 2 ;;
		--unitdir=*) unitdir=${1#*=}; shift ;;
		--bin-dir) bindir_src=$2; shift 2 ;;
		--bin-dir=*) bindir_src=${1#*=}; shift ;;
		--purge) purge=true; shift ;;
		-h | --help) usage ;;
		*) echo "install.sh: unknown option $1" >&2; usage ;;
	esac
done

case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
if [ -z "$sysconfdir" ]; then
	if [ "$prefix" = /usr ]; then sysconfdir=/etc; else sysconfdir=$prefix/etc; fi
fi
if [ -z "$unitdir" ]; then
	if [ "$prefix" = /usr ]; then unitdir=/lib/systemd/system; else unitdir=$prefix/lib/systemd/system; fi
fi

sbindir=$prefix/sbin
bindir=$prefix/bin
mandir=$prefix/share/man
D=$destdir

# Every file install puts in place (configuration files excepted), for uninstall.
installed_files() {
	echo "$D$sbindir/keepalived"
	echo "$D$bindir/genhash"
	echo "$D$mandir/man8/keepalived.8"
	echo "$D$mandir/man5/keepalived.conf.5"
	echo "$D$mandir/man5/lvs.cf.5"
	echo "$D$mandir/man1/genhash.1"
	echo "$D$sysconfdir/init.d/keepalived"
	echo "$D$unitdir/keepalived.service"
}

# Copies template $1 to $2 with the install paths filled in.
subst() {
	sed -e "s|@SBINDIR@|$sbindir|g" \
		-e "s|@SYSCONFDIR@|$sysconfdir|g" \
		-e "s|@RUNSTATEDIR@|$runstatedir|g" "$1" >"$2.tmp"
	chmod "$3" "$2.tmp"
	mv -f "$2.tmp" "$2"
}

do_install() {
	if [ -z "$bindir_src" ]; then
		(cd "$top" && cargo build --release --bin keepalived --bin genhash)
		bindir_src=$top/target/release
	fi
	for b in keepalived genhash; do
		[ -x "$bindir_src/$b" ] || { echo "install.sh: $bindir_src/$b not found" >&2; exit 1; }
	done
	install -d "$D$sbindir" "$D$bindir" "$D$mandir/man1" "$D$mandir/man5" "$D$mandir/man8" \
		"$D$sysconfdir/init.d" "$D$sysconfdir/default" "$D$sysconfdir/keepalived" "$D$unitdir"
	install -m 755 "$bindir_src/keepalived" "$D$sbindir/keepalived"
	install -m 755 "$bindir_src/genhash" "$D$bindir/genhash"
	install -m 644 "$top/man/keepalived.8" "$D$mandir/man8/keepalived.8"
	install -m 644 "$top/man/keepalived.conf.5" "$D$mandir/man5/keepalived.conf.5"
	install -m 644 "$top/man/lvs.cf.5" "$D$mandir/man5/lvs.cf.5"
	install -m 644 "$top/man/genhash.1" "$D$mandir/man1/genhash.1"
	subst "$here/keepalived.init" "$D$sysconfdir/init.d/keepalived" 755
	subst "$here/keepalived.service" "$D$unitdir/keepalived.service" 644
	if [ ! -e "$D$sysconfdir/default/keepalived" ]; then
		install -m 644 "$here/keepalived.default" "$D$sysconfdir/default/keepalived"
	fi
	if [ ! -e "$D$sysconfdir/keepalived/keepalived.conf" ]; then
		install -m 644 "$here/keepalived.conf" "$D$sysconfdir/keepalived/keepalived.conf"
	fi
	echo "keepalived-rs installed under ${D:-}$prefix (configuration in $D$sysconfdir)"
	if [ -z "$D" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
		echo "systemd: run 'systemctl enable --now keepalived' to start it at boot"
	fi
}

do_uninstall() {
	installed_files | while read -r f; do
		rm -f "$f"
	done
	if $purge; then
		rm -f "$D$sysconfdir/default/keepalived" "$D$sysconfdir/keepalived/keepalived.conf"
		rmdir "$D$sysconfdir/keepalived" 2>/dev/null || true
	fi
	echo "keepalived-rs uninstalled from ${D:-}$prefix"
}

case "$action" in
	install) do_install ;;
	uninstall) do_uninstall ;;
	*) usage ;;
esac
