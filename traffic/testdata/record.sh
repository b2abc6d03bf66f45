#!/bin/sh
# record.sh records the loopback captures and ss snapshots that package
# traffic's tests import, in a private network namespace (the host's own
# interfaces and tables are untouched). It needs root, ip(8), tcpdump,
# editcap and tshark (Wireshark's), ss, nft, conntrack and Go.
#
#	sudo sh traffic/testdata/record.sh     # from the repository root
#
# It runs traffic/internal/record, which opens, on 127.0.0.1 and on ::1,
# 5 connections closed by the client after 150 ms, 4 closed by the server
# after 250 ms, 3 reset by the client after 100 ms and 2 left open, and
# writes the plan to plan.csv. Four tcpdumps record the same traffic:
#
#	lo.pcap        loopback (Ethernet link type), nanosecond timestamps
#	lo.pcapng      lo.pcap rewritten as pcapng by editcap
#	any-sll.pcap   the "any" device, Linux cooked v1 (SLL), microseconds
#	any-sll2.pcap  the "any" device, Linux cooked v2 (SLL2), microseconds
#	lo-snap68.pcap loopback with a 68-byte snap length (TCP options cut)
#
# and ss writes ss-tano.txt and ss-tan.txt, conntrack ct-list.txt and
# /proc/net/nf_conntrack nf_conntrack.txt, once every connection but the
# open ones has closed (TIME-WAIT sockets then still hold their 4-tuples).
# A conntrack rule in the namespace's nftables makes the kernel track the
# connections; conntrack -E -o timestamp writes their events to
# ct-events.txt.
# reference.txt lists, from tshark, each packet with SYN, FIN or RST set
# in lo.pcap: an independent reading the tests compare holds against.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ns=portsim-rec-$$
bin=$(mktemp -d)
trap 'ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del $ns 2>/dev/null; rm -rf "$bin"' EXIT
(cd "$here/../.." && go build -o "$bin/record" ./traffic/internal/record)
ip netns add $ns
ip -n $ns link set lo up
run() { ip netns exec $ns "$@"; }
run nft add table inet portsim
run nft add chain inet portsim out '{ type filter hook output priority 0; }'
run nft add rule inet portsim out ct state established accept
run sysctl -q -w net.netfilter.nf_conntrack_events=1
cd "$here"
run timeout 60 conntrack -E -o timestamp >ct-events.txt 2>/dev/null & p5=$!
rm -f lo.pcap any-sll.pcap any-sll2.pcap lo-snap68.pcap
run timeout 60 tcpdump -q -n -i lo --time-stamp-precision=nano -w lo.pcap tcp 2>/dev/null & p1=$!
run timeout 60 tcpdump -q -n -i any -y LINUX_SLL -w any-sll.pcap tcp 2>/dev/null & p2=$!
run timeout 60 tcpdump -q -n -i any -y LINUX_SLL2 -w any-sll2.pcap tcp 2>/dev/null & p3=$!
run timeout 60 tcpdump -q -n -i lo -s 68 -w lo-snap68.pcap tcp 2>/dev/null & p4=$!
sleep 1
fifo=$bin/in
mkfifo "$fifo"
run timeout 60 "$bin/record" -plan plan.csv 127.0.0.1 ::1 <"$fifo" >"$bin/out" & rec=$!
exec 3>"$fifo"
until grep -q ready "$bin/out"; do sleep 0.1; done
run ss -tano >ss-tano.txt
run ss -tan >ss-tan.txt
run conntrack -L >ct-list.txt 2>/dev/null
run cat /proc/net/nf_conntrack >nf_conntrack.txt
sleep 0.5
kill -INT $p1 $p2 $p3 $p4 $p5
wait $p1 $p2 $p3 $p4 $p5 || true
exec 3>&-
wait $rec
editcap -F pcapng lo.pcap lo.pcapng
tshark -r lo.pcap -Y 'tcp.flags.syn == 1 || tcp.flags.fin == 1 || tcp.flags.reset == 1' \
	-T fields -E separator=, -e frame.time_epoch -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.flags \
	>reference.txt 2>/dev/null
ls -l lo.pcap lo.pcapng any-sll.pcap any-sll2.pcap lo-snap68.pcap ss-tano.txt ss-tan.txt ct-list.txt nf_conntrack.txt ct-events.txt plan.csv reference.txt
