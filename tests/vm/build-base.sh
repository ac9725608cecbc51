#!/bin/sh
# Build the base initramfs of the IPVS test VM.
#
#   tests/vm/build-base.sh OUTDIR
#
# Picks the newest kernel under /boot that has ip_vs modules (Debian's linux-image-amd64) and
# writes OUTDIR/vmlinuz and OUTDIR/base.cpio.gz: busybox, ipvsadm, iproute2's ip, keepalived
# (each with the libraries ldd names), the modules IPVS and the tests need (with their
# dependencies, from modules.dep) and /init. The test's own files come in a second, uncompressed
# cpio appended at boot (see run-guest.sh): the kernel unpacks both.
#
# Needs: linux-image-amd64 busybox-static ipvsadm iproute2 keepalived cpio gzip.
set -eu

OUT=${1:?usage: build-base.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)

KVER=
for m in /lib/modules/*/kernel/net/netfilter/ipvs/ip_vs.ko*; do
    [ -e "$m" ] || continue
    v=${m#/lib/modules/}
    v=${v%%/*}
    [ -r "/boot/vmlinuz-$v" ] && KVER=$v
done
[ -n "$KVER" ] || { echo "build-base: no kernel with ip_vs under /boot and /lib/modules (apt-get install linux-image-amd64)" >&2; exit 2; }
BUSYBOX=$(command -v busybox) || { echo "build-base: busybox missing (apt-get install busybox-static)" >&2; exit 2; }

ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/bin "$ROOT"/sbin "$ROOT"/usr/sbin "$ROOT"/usr/bin "$ROOT"/lib "$ROOT"/lib64 \
    "$ROOT"/proc "$ROOT"/sys "$ROOT"/dev "$ROOT"/run "$ROOT"/tmp "$ROOT"/etc \
    "$ROOT"/guest "$ROOT"/root "$ROOT"/var
ln -s /run "$ROOT"/var/run
cp "$BUSYBOX" "$ROOT"/bin/busybox
ln -s /bin/busybox "$ROOT"/sbin/modprobe

# A binary and the libraries it loads, at the same paths.
copy_bin() {
    src=$1
    dst=$ROOT$2
    mkdir -p "$(dirname "$dst")"
    cp -L "$src" "$dst"
    ldd "$src" 2>/dev/null | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
        mkdir -p "$ROOT$(dirname "$lib")"
        [ -e "$ROOT$lib" ] || cp -L "$lib" "$ROOT$lib"
    done
}
for b in /usr/sbin/ipvsadm /usr/sbin/keepalived; do
    [ -x "$b" ] || { echo "build-base: $b missing" >&2; exit 2; }
    copy_bin "$b" "$b"
done
copy_bin "$(command -v ip)" /usr/sbin/ip
# Rust test binaries link libgcc_s.
for l in /lib/x86_64-linux-gnu/libgcc_s.so.1 /lib/x86_64-linux-gnu/libm.so.6; do
    [ -e "$l" ] && cp -L "$l" "$ROOT$l"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$ROOT"/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > "$ROOT"/etc/group
printf 'hosts: files\n' > "$ROOT"/etc/nsswitch.conf
printf '127.0.0.1 localhost\n' > "$ROOT"/etc/hosts
[ -e /etc/protocols ] && cp /etc/protocols "$ROOT"/etc/
[ -e /etc/services ] && cp /etc/services "$ROOT"/etc/

# Modules: IPVS with every scheduler, and what the data-path tests use, with dependencies.
MODDIR=/lib/modules/$KVER
WANT="ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed
ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh ip_vs_twos ip_vs_pe_sip ip_vs_ftp crc32c_generic dummy veth
bridge ipip ip_gre fou ip_tunnel tunnel4 nf_conntrack nf_nat xt_mark iptable_mangle"
mkdir -p "$ROOT$MODDIR"
cp "$MODDIR"/modules.* "$ROOT$MODDIR"/
resolve() {
    # modules.dep: "kernel/x/y.ko: dep1.ko dep2.ko"
    f=$(awk -v m="$1" -F: '{ n=$1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n); if (n == m) { print $0; exit } }' "$MODDIR/modules.dep")
    [ -n "$f" ] || return 0
    echo "$f" | tr ' :' '\n\n' | grep -v '^$'
}
for m in $WANT; do
    for p in $(resolve "$m"); do
        mkdir -p "$ROOT$MODDIR/$(dirname "$p")"
        [ -e "$ROOT$MODDIR/$p" ] || cp "$MODDIR/$p" "$ROOT$MODDIR/$p"
    done
done

cp "$HERE/init" "$ROOT"/init
chmod 755 "$ROOT"/init

mkdir -p "$OUT"
cp "/boot/vmlinuz-$KVER" "$OUT"/vmlinuz.tmp && mv "$OUT"/vmlinuz.tmp "$OUT"/vmlinuz
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT"/base.cpio.gz.tmp
mv "$OUT"/base.cpio.gz.tmp "$OUT"/base.cpio.gz
echo "$KVER" > "$OUT"/kernel-version
