#!/bin/sh
# Boot the IPVS test VM with a guest directory and print its serial console.
#
#   tests/vm/run-guest.sh BASEDIR GUESTDIR TIMEOUT_SECONDS
#
# BASEDIR holds vmlinuz and base.cpio.gz (build-base.sh). GUESTDIR becomes the VM's / on top of
# the base (it must hold guest/run.sh). qemu runs under TCG (KVM hangs on this machine) and is
# killed after TIMEOUT_SECONDS. The exit status is the guest script's (from the console's
# "@@GUEST-END rc=N@@"), 124 on timeout, 125 if the guest never reported.
set -eu
BASE=${1:?usage: run-guest.sh BASEDIR GUESTDIR TIMEOUT}
GUEST=${2:?}
LIMIT=${3:?}
QEMU=$(command -v qemu-system-x86_64) || { echo "run-guest: qemu-system-x86_64 missing" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$GUEST" && find . | cpio -o -H newc --quiet) > "$WORK"/overlay.cpio
# The uncompressed overlay goes first: the kernel cannot find an archive that follows a
# compressed one.
cat "$WORK"/overlay.cpio "$BASE"/base.cpio.gz > "$WORK"/initrd
MEM=${VM_MEM:-1024}
set +e
timeout -k 5 "$LIMIT" "$QEMU" -accel tcg -cpu max -smp 1 -m "$MEM" -nic none \
    -kernel "$BASE"/vmlinuz -initrd "$WORK"/initrd -nographic -no-reboot \
    -append "console=ttyS0 quiet panic=-1 loglevel=3" </dev/null > "$WORK"/console 2>&1
qrc=$?
set -e
tr -d '\r' < "$WORK"/console
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
    echo "run-guest: timed out after ${LIMIT}s" >&2
    exit 124
fi
rc=$(tr -d '\r' < "$WORK"/console | sed -n 's/^@@GUEST-END rc=\([0-9]*\)@@$/\1/p' | tail -1)
[ -n "$rc" ] || exit 125
exit "$rc"
