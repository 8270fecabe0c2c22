#!/usr/bin/env bash
# compare.sh - the latency and rate the mediation server adds, measured with
# sipp in one run: the same SfB client scenario (perf-client.xml) against a
# sipp SBC directly, then through `mediation serve` (bypassed calls), at the
# same rate. Each call's INVITE -> 200 and BYE -> 200 are timed on the
# client's side of a loopback capture (dumpcap, microseconds), first request
# to first final response; the table gives percentiles of both runs and what
# the daemon adds. Where kamailio is installed, the same run through
# Kamailio as a plain stateful proxy (testdata/kamailio/proxy.cfg) gives a
# reference: what a SIP element that only relays adds on the same machine.
# A last run finds sipp's own ceiling (direct, at --ceiling calls/s).
#
# Usage (from the repository root; needs sipp, tshark and root or the
# capture capability for dumpcap on lo):
#   bash testdata/sipp/compare.sh [CPS] [CALLS] [udp|tcp] [CEILING_CPS]
# Defaults: 500 calls/s, 5000 calls, udp, 3000 (0: skip the ceiling run).
# Ports used on 127.0.0.1: 5060 (SBC), 5090 (client), 5070, 5068, 8080, 8081
# (the daemon's defaults), 5080 (Kamailio).
set -euo pipefail

cps=${1:-500}
calls=${2:-5000}
transport=${3:-udp}
ceiling=${4:-3000}
case $transport in
udp) t=u1 ;;
tcp) t=t1 ;;
*)
	echo "transport must be udp or tcp" >&2
	exit 2
	;;
esac
for tool in sipp tshark dumpcap go; do
	command -v $tool >/dev/null || {
		echo "compare.sh needs $tool" >&2
		exit 2
	}
done

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/mediation" "$root/cmd/mediation"

# sbc starts a sipp SBC (built-in uas: 180, 200 with SDP) for a run.
sbc() {
	sipp -sn uas -i 127.0.0.1 -p 5060 -t $t -nostdin -max_socket 60000 >"$work/uas.log" 2>&1 &
	sbc_pid=$!
	pids+=("$sbc_pid")
	sleep 0.5
}

# run NAME TARGET RATE: one sipp client run with a capture of its port;
# prints "ok failed elapsed_s".
run() {
	local name=$1 target=$2 rate=$3 n=$4
	dumpcap -q -i lo -f "port 5090" -w "$work/$name.pcapng" >/dev/null 2>&1 &
	local cap=$!
	sleep 1
	local start end rc=0
	start=$(date +%s.%N)
	sipp -sf "$root/testdata/sipp/perf-client.xml" -i 127.0.0.1 -p 5090 -t $t -s 15551234 \
		-r "$rate" -m "$n" -d 100 -l 100000 -max_socket 60000 -timeout 300s -nostdin \
		-trace_stat -stf "$work/$name.stat.csv" "$target" >"$work/$name.sipp.log" 2>&1 || rc=$?
	end=$(date +%s.%N)
	sleep 1
	kill -INT $cap
	wait $cap 2>/dev/null || true
	local ok failed
	ok=$(tail -n 1 "$work/$name.stat.csv" | awk -F';' '{print $16}')     # SuccessfulCall(C)
	failed=$(tail -n 1 "$work/$name.stat.csv" | awk -F';' '{print $18}') # FailedCall(C)
	echo "$ok $failed $(echo "$end - $start" | bc) $rc"
}

# times NAME METHOD: each call's METHOD -> 200 in ms, sorted.
times() {
	tshark -r "$work/$1.pcapng" -d "udp.port==5090,sip" -d "tcp.port==5090,sip" -Y sip -T fields -E separator=';' \
		-e frame.time_epoch -e sip.Call-ID -e sip.Method -e sip.Status-Code -e sip.CSeq.method 2>/dev/null |
		awk -F';' -v m="$2" '
			$3 == m && !($2 in sent) { sent[$2] = $1 }
			$4 == 200 && $5 == m && ($2 in sent) && !($2 in done) { done[$2] = 1; printf "%.3f\n", ($1 - sent[$2]) * 1000 }
		' | sort -n
}

# pct FILE P: the P-th percentile of a sorted list.
pct() {
	awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }' "$1"
}

sbc
echo "direct: $calls calls at $cps/s over $transport to the sipp SBC ..." >&2
read -r d_ok d_failed d_secs d_rc <<<"$(run direct 127.0.0.1:5060 "$cps" "$calls")"
times direct INVITE >"$work/direct.invite"
times direct BYE >"$work/direct.bye"
kill "$sbc_pid"
wait "$sbc_pid" 2>/dev/null || true

sbc
"$work/mediation" serve --log-level error --gateway-transport "$transport" >"$work/daemon.log" 2>&1 &
daemon=$!
pids+=("$daemon")
for _ in $(seq 50); do
	curl -sf http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
	sleep 0.2
done
echo "through the daemon: $calls calls at $cps/s over $transport ..." >&2
read -r m_ok m_failed m_secs m_rc <<<"$(run daemon 127.0.0.1:5070 "$cps" "$calls")"
times daemon INVITE >"$work/daemon.invite"
times daemon BYE >"$work/daemon.bye"
bypassed=$(curl -s http://127.0.0.1:8080/metrics | awk '/^mediationserver_media_bypass_calls_total\{direction="outbound"\}/ { print $2 }')
cpu=$(curl -s http://127.0.0.1:8080/metrics | awk '/^process_cpu_seconds_total/ { print $2 }')
rss=$(curl -s http://127.0.0.1:8080/metrics | awk '/^process_resident_memory_bytes/ { printf "%.0f", $2 / 1048576 }')
kill -INT "$daemon"
wait "$daemon" 2>/dev/null || true
kill "$sbc_pid"
wait "$sbc_pid" 2>/dev/null || true

runs="direct daemon"
if command -v kamailio >/dev/null; then
	sbc
	sed "s#LISTEN#127.0.0.1:5080#; s#TARGET#sip:127.0.0.1:5060;transport=$transport#" "$root/testdata/kamailio/proxy.cfg" >"$work/kamailio.cfg"
	mkdir -p "$work/kamailio-run"
	# -m: 1 GiB of shared memory for transactions (the default 64 MiB runs
	# out at 500 calls/s: tm keeps each 2.6 kB INVITE while it lives).
	kamailio -f "$work/kamailio.cfg" -m 1024 -DD -E -Y "$work/kamailio-run" -w "$work" >"$work/kamailio.log" 2>&1 &
	kam=$!
	pids+=("$kam")
	sleep 1.5
	kill -0 "$kam" 2>/dev/null || {
		cat "$work/kamailio.log" >&2
		echo "kamailio did not start" >&2
		exit 1
	}
	echo "through Kamailio (stateful proxy): $calls calls at $cps/s over $transport ..." >&2
	read -r k_ok k_failed k_secs k_rc <<<"$(run kamailio 127.0.0.1:5080 "$cps" "$calls")"
	times kamailio INVITE >"$work/kamailio.invite"
	times kamailio BYE >"$work/kamailio.bye"
	kill "$kam" 2>/dev/null || true
	wait "$kam" 2>/dev/null || true
	kill "$sbc_pid"
	wait "$sbc_pid" 2>/dev/null || true
	runs="$runs kamailio"
else
	echo "kamailio is not installed: no Kamailio run" >&2
fi

printf '\n%s calls at %s/s over %s, 100 ms talk time; times in ms at the client\n\n' "$calls" "$cps" "$transport"
printf '| run | ok | failed | INVITE->200 p50 / p90 / p99 / max | BYE->200 p50 / p99 |\n| --- | --- | --- | --- | --- |\n'
for r in $runs; do
	case $r in
	direct) ok=$d_ok failed=$d_failed ;;
	daemon) ok=$m_ok failed=$m_failed ;;
	kamailio) ok=$k_ok failed=$k_failed ;;
	esac
	printf '| %s | %s | %s | %s / %s / %s / %s | %s / %s |\n' "$r" "$ok" "$failed" \
		"$(pct "$work/$r.invite" 50)" "$(pct "$work/$r.invite" 90)" "$(pct "$work/$r.invite" 99)" "$(pct "$work/$r.invite" 100)" \
		"$(pct "$work/$r.bye" 50)" "$(pct "$work/$r.bye" 99)"
done
for r in $runs; do
	[ $r = direct ] && continue
	for p in 50 99; do
		printf 'added by %s, p%s: INVITE->200 %s ms, BYE->200 %s ms\n' "$r" "$p" \
			"$(echo "$(pct "$work/$r.invite" $p) - $(pct "$work/direct.invite" $p)" | bc)" \
			"$(echo "$(pct "$work/$r.bye" $p) - $(pct "$work/direct.bye" $p)" | bc)"
	done
done
printf 'daemon: %s calls bypassed, %s s of CPU (%s ms per call), RSS %s MiB at the end\n' "${bypassed:-0}" "$cpu" \
	"$(echo "scale=3; $cpu * 1000 / $m_ok" | bc)" "$rss"

if [ "$ceiling" != 0 ]; then
	sbc
	n=$((ceiling * 10))
	echo "sipp's own ceiling: $n calls at $ceiling/s directly ..." >&2
	read -r c_ok c_failed c_secs c_rc <<<"$(run ceiling 127.0.0.1:5060 "$ceiling" "$n")"
	printf 'sipp direct at %s/s: %s ok, %s failed in %.1f s (%.0f calls/s achieved)\n' "$ceiling" "$c_ok" "$c_failed" "$c_secs" \
		"$(echo "$c_ok / $c_secs" | bc -l)"
fi
[ "$d_rc" = 0 ] && [ "$m_rc" = 0 ] && [ "${k_rc:-0}" = 0 ]
