#!/usr/bin/env bash
# Capture real keepalived VRRP adverts as test vectors for tests/vrrp_packets.rs.
#
# What it does, for each scenario below:
#   1. builds two network namespaces joined by a veth pair
#        kvrrp-a/kv-a  198.51.100.1/24  2001:db8::1/64  fe80::a/64
#        kvrrp-b/kv-b  198.51.100.2/24  2001:db8::2/64  fe80::b/64
#      (fixed MACs, link-local set by hand, DAD and IPv6 flow labels off, so runs
#      are reproducible byte for byte);
#   2. starts tcpdump on kv-b (the receiving side: what was on the wire);
#   3. runs keepalived inside kvrrp-a under `timeout 8` with --dont-fork, so the
#      SIGTERM at 8 s also produces the priority-0 "leaving master" advert;
#   4. turns the pcap into tests/vectors/NAME.hex: a comment header (config,
#      the `# expect:` line the test reads) and one IP packet per line in hex
#      (IPv4: from the IPv4 header, as a raw socket delivers it; IPv6: the whole
#      IPv6 packet, the test splits off the 40-byte header itself).
#
# Requirements: root, iproute2, tcpdump, python3, keepalived (Debian 2.2.7 was
# used for the committed vectors). Everything runs in the namespaces it creates;
# they are deleted on exit (trap). Each scenario is bounded to ~11 s.
#
# Usage: sudo tests/vectors/capture.sh [SCENARIO...]   (default: all)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
KEEPALIVED=${KEEPALIVED:-/usr/sbin/keepalived}
NSA=kvrrp-a
NSB=kvrrp-b
WORK=$(mktemp -d /tmp/kvrrp-capture.XXXXXX)
TCPDUMP_PID=

cleanup() {
    if [[ -n "$TCPDUMP_PID" ]]; then kill "$TCPDUMP_PID" 2>/dev/null || true; fi
    ip netns del "$NSA" 2>/dev/null || true
    ip netns del "$NSB" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

setup_netns() {
    ip netns del "$NSA" 2>/dev/null || true
    ip netns del "$NSB" 2>/dev/null || true
    ip netns add "$NSA"
    ip netns add "$NSB"
    ip -n "$NSA" link add kv-a address 02:00:00:00:00:0a type veth \
        peer name kv-b address 02:00:00:00:00:0b netns "$NSB"
    local ns ifc n
    for n in a b; do
        ns=kvrrp-$n
        ifc=kv-$n
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0
        # No random IPv6 flow labels: the vectors come out byte-identical on every run.
        ip netns exec "$ns" sysctl -qw net.ipv6.auto_flowlabels=0
        ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.accept_dad=0"
        ip -n "$ns" link set "$ifc" addrgenmode none
        ip -n "$ns" link set lo up
        ip -n "$ns" link set "$ifc" up
        ip -n "$ns" addr add "fe80::$n/64" dev "$ifc" nodad
    done
    ip -n "$NSA" addr add 198.51.100.1/24 dev kv-a
    ip -n "$NSB" addr add 198.51.100.2/24 dev kv-b
    ip -n "$NSA" addr add 2001:db8::1/64 dev kv-a nodad
    ip -n "$NSB" addr add 2001:db8::2/64 dev kv-b nodad
}

# pcap (Ethernet) -> one hex line per IPv4/IPv6 packet carrying VRRP (112) or AH (51).
pcap_to_hex() {
    python3 - "$1" <<'EOF'
import struct, sys
data = open(sys.argv[1], 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
end = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
linktype = struct.unpack(end + 'I', data[20:24])[0]
assert linktype == 1, f"expected Ethernet pcap, got linktype {linktype}"
off = 24
while off + 16 <= len(data):
    _, _, incl, _ = struct.unpack(end + 'IIII', data[off:off + 16])
    frame = data[off + 16:off + 16 + incl]
    off += 16 + incl
    ethertype = struct.unpack('>H', frame[12:14])[0]
    pkt = frame[14:]
    if ethertype == 0x0800 and pkt[9] in (112, 51):
        pkt = pkt[:struct.unpack('>H', pkt[2:4])[0]]
    elif ethertype == 0x86dd and pkt[6] == 112:
        pkt = pkt[:40 + struct.unpack('>H', pkt[4:6])[0]]
    else:
        continue
    print(pkt.hex())
EOF
}

# run NAME EXPECT CONF
run() {
    local name=$1 expect=$2 conf=$3
    echo "== $name"
    setup_netns
    printf '%s\n' "$conf" >"$WORK/$name.conf"
    timeout 11 ip netns exec "$NSB" tcpdump -i kv-b -U -s 0 -w "$WORK/$name.pcap" \
        'ip proto 112 or ip proto 51 or ip6 proto 112' 2>"$WORK/$name.tcpdump.log" &
    TCPDUMP_PID=$!
    sleep 1
    timeout 8 ip netns exec "$NSA" "$KEEPALIVED" --dont-fork --log-console --log-detail --vrrp \
        -f "$WORK/$name.conf" -p "$WORK/$name.pid" -r "$WORK/$name.vrrp.pid" \
        >"$WORK/$name.keepalived.log" 2>&1 || true
    sleep 1
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    TCPDUMP_PID=
    {
        echo "# Captured from $("$KEEPALIVED" -v 2>&1 | head -1) by tests/vectors/capture.sh"
        echo "# scenario: $name; MASTER in netns kvrrp-a (kv-a 198.51.100.1, 2001:db8::1, fe80::a),"
        echo "# captured on kv-b (198.51.100.2, 2001:db8::2, fe80::b). One IP packet per line."
        echo "# expect: $expect"
        echo "# keepalived.conf:"
        sed 's/^/#   /' "$WORK/$name.conf"
        pcap_to_hex "$WORK/$name.pcap"
    } >"$HERE/$name.hex"
    echo "   $(grep -vc '^#' "$HERE/$name.hex") packets -> tests/vectors/$name.hex"
    ip netns del "$NSA"
    ip netns del "$NSB"
}

GLOBAL='global_defs {
    router_id kvrrp
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 1
}'

scenario() {
    case $1 in
    v2_none) run v2_none \
        'family=4 version=2 vrid=51 priority=150 advert_int=100 auth=none addrs=203.0.113.51,203.0.113.52 unicast=no' \
        "$GLOBAL
vrrp_instance VI_51 {
    state MASTER
    interface kv-a
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        203.0.113.51/24
        203.0.113.52/24
    }
}" ;;
    v2_pass) run v2_pass \
        'family=4 version=2 vrid=52 priority=120 advert_int=200 auth=pass:s3cr3t addrs=203.0.113.52 unicast=no' \
        "$GLOBAL
vrrp_instance VI_52 {
    state MASTER
    interface kv-a
    virtual_router_id 52
    priority 120
    advert_int 2
    authentication {
        auth_type PASS
        auth_pass s3cr3t
    }
    virtual_ipaddress {
        203.0.113.52/24
    }
}" ;;
    v2_ah) run v2_ah \
        'family=4 version=2 vrid=53 priority=100 advert_int=100 auth=ah:ahsecret addrs=203.0.113.53,203.0.113.54,203.0.113.55 unicast=no' \
        "$GLOBAL
vrrp_instance VI_53 {
    # AH forbids initial state MASTER below priority 255: BACKUP, master after ~3.6 s
    state BACKUP
    interface kv-a
    virtual_router_id 53
    priority 100
    advert_int 1
    authentication {
        auth_type AH
        auth_pass ahsecret
    }
    virtual_ipaddress {
        203.0.113.53/24
        203.0.113.54/24
        203.0.113.55/24
    }
}" ;;
    v2_ah_unicast) run v2_ah_unicast \
        'family=4 version=2 vrid=54 priority=100 advert_int=100 auth=ah:k3y addrs=203.0.113.54 unicast=yes' \
        "$GLOBAL
vrrp_instance VI_54 {
    state BACKUP
    interface kv-a
    virtual_router_id 54
    priority 100
    advert_int 1
    unicast_src_ip 198.51.100.1
    unicast_peer {
        198.51.100.2
    }
    authentication {
        auth_type AH
        auth_pass k3y
    }
    virtual_ipaddress {
        203.0.113.54/24
    }
}" ;;
    v2_unicast) run v2_unicast \
        'family=4 version=2 vrid=55 priority=200 advert_int=100 auth=none addrs=203.0.113.55 unicast=yes' \
        "$GLOBAL
vrrp_instance VI_55 {
    state MASTER
    interface kv-a
    virtual_router_id 55
    priority 200
    advert_int 1
    unicast_src_ip 198.51.100.1
    unicast_peer {
        198.51.100.2
    }
    virtual_ipaddress {
        203.0.113.55/24
    }
}" ;;
    v3_ipv4) run v3_ipv4 \
        'family=4 version=3 vrid=56 priority=200 advert_int=50 auth=none addrs=203.0.113.56,203.0.113.57 unicast=no checksum=standard' \
        "$GLOBAL
vrrp_instance VI_56 {
    version 3
    state MASTER
    interface kv-a
    virtual_router_id 56
    priority 200
    advert_int 0.5
    virtual_ipaddress {
        203.0.113.56/24
        203.0.113.57/24
    }
}" ;;
    v3_ipv4_unicast) run v3_ipv4_unicast \
        'family=4 version=3 vrid=57 priority=200 advert_int=100 auth=none addrs=203.0.113.57 unicast=yes checksum=standard' \
        "$GLOBAL
vrrp_instance VI_57 {
    version 3
    state MASTER
    interface kv-a
    virtual_router_id 57
    priority 200
    advert_int 1
    unicast_src_ip 198.51.100.1
    unicast_peer {
        198.51.100.2
    }
    virtual_ipaddress {
        203.0.113.57/24
    }
}" ;;
    v3_ipv4_unicast_old) run v3_ipv4_unicast_old \
        'family=4 version=3 vrid=58 priority=200 advert_int=100 auth=none addrs=203.0.113.58 unicast=yes checksum=old_unicast' \
        "$GLOBAL
vrrp_instance VI_58 {
    version 3
    state MASTER
    interface kv-a
    virtual_router_id 58
    priority 200
    advert_int 1
    unicast_src_ip 198.51.100.1
    unicast_peer {
        198.51.100.2
    }
    old_unicast_checksum
    virtual_ipaddress {
        203.0.113.58/24
    }
}" ;;
    v3_ipv6) run v3_ipv6 \
        'family=6 version=3 vrid=59 priority=150 advert_int=100 auth=none addrs=fe80::59,2001:db8::59 unicast=no' \
        "$GLOBAL
vrrp_instance VI_59 {
    version 3
    state MASTER
    interface kv-a
    virtual_router_id 59
    priority 150
    advert_int 1
    virtual_ipaddress {
        fe80::59/64
        2001:db8::59/64
    }
}" ;;
    v3_ipv6_unicast) run v3_ipv6_unicast \
        'family=6 version=3 vrid=60 priority=150 advert_int=100 auth=none addrs=2001:db8::60 unicast=yes' \
        "$GLOBAL
vrrp_instance VI_60 {
    version 3
    state MASTER
    interface kv-a
    virtual_router_id 60
    priority 150
    advert_int 1
    unicast_src_ip 2001:db8::1
    unicast_peer {
        2001:db8::2
    }
    virtual_ipaddress {
        2001:db8::60/64
    }
}" ;;
    v2_ipv6) run v2_ipv6 \
        'family=6 version=2 vrid=61 priority=150 advert_int=100 auth=none addrs=2001:db8::61 unicast=no' \
        "$GLOBAL
vrrp_instance VI_61 {
    version 2
    state MASTER
    interface kv-a
    virtual_router_id 61
    priority 150
    advert_int 1
    virtual_ipaddress {
        2001:db8::61/64
    }
}" ;;
    *) echo "unknown scenario $1" >&2; return 1 ;;
    esac
}

ALL=(v2_none v2_pass v2_ah v2_ah_unicast v2_unicast v3_ipv4 v3_ipv4_unicast
    v3_ipv4_unicast_old v3_ipv6 v3_ipv6_unicast v2_ipv6)
if [[ $# -eq 0 ]]; then set -- "${ALL[@]}"; fi
for s in "$@"; do scenario "$s"; done
