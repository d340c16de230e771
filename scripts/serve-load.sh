#!/usr/bin/env bash
# Load runs of "resgo serve" on this machine (loopback only), for the
# README's Serving section: 1 and 64 clients with each of CONFIGS (default:
# the server's defaults, batching on, and --max-batch 1, batching off), an
# overload run (512 clients against a queue of 8), and SIGTERM under load
# (no request sent may go unanswered).
# Run it alone: flock -x /tmp/bench.lock scripts/serve-load.sh
# DUR (default 30s) is the 64-client runs' length; the others are shorter.
# CONFIGS is a list of flag sets separated by commas, such as
# CONFIGS="--max-batch 16,--max-batch 1,--pass-threads 2 --max-batch 4".
set -euo pipefail
cd "$(dirname "$0")/.."
CK=${CK:-testdata/mnist-resnet.safetensors}
DUR=${DUR:-30s}
D1=${D1:-10s}   # the 1-client runs
DOV=${DOV:-10s}  # the overload and SIGTERM runs
BODY=${BODY:-testdata/digits/seven.png}
CONFIGS=${CONFIGS:---max-batch 16,--max-batch 1}
tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
go build -o "$tmp/resgo" ./cmd/resgo
go build -o "$tmp/loadgen" ./cmd/loadgen

# start runs resgo serve with the given flags and sets $srv and $url.
start() {
	"$tmp/resgo" serve --checkpoint "$CK" --addr 127.0.0.1:0 --quiet "$@" 2>"$tmp/log" &
	srv=$!
	for _ in $(seq 100); do
		url=$(sed -n 's/.*msg=serving url=\([^ ]*\).*/\1/p' "$tmp/log")
		[ -n "$url" ] && return 0
		sleep 0.1
	done
	echo "resgo serve did not start:"; cat "$tmp/log"; exit 1
}
stop() { kill -TERM "$srv"; wait "$srv"; srv=""; }
lg() { "$tmp/loadgen" --url "${url}v1/models/resnet:classify" --body "$BODY" --pid "$srv" "$@"; }

echo "# $("$tmp/resgo" version), $(date -u +%FT%TZ), load average $(cut -d" " -f1-3 /proc/loadavg)"
IFS=, read -ra configs <<<"$CONFIGS"
for flags in "${configs[@]}"; do
	# shellcheck disable=SC2086 # the flags are words
	start $flags
	lg --clients 1 --duration 2s >/dev/null # warm-up
	echo "## $flags, 1 client";   lg --clients 1 --duration "$D1"
	echo "## $flags, 64 clients"; lg --clients 64 --duration "$DUR"
	grep -o 'resgo_batch_size_[a-z]*{[^}]*} [0-9.e+]*' <(curl -s "${url}metrics") | grep -v bucket || true
	stop
done

echo "## overload: 512 clients, --max-queue 8"
start --max-queue 8
lg --clients 512 --duration "$DOV"
stop

echo "## SIGTERM after 3s under 64 clients"
start
lg --clients 64 --duration "$DOV" --sigterm-after 3s
wait "$srv" && echo "resgo serve exited 0" || echo "resgo serve exited $?"
srv=""
