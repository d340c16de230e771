#!/bin/sh
# Inference speed of the PyTorch-exported ResNet (onnx/testdata/torch-resnet.onnx)
# in resgo (imported, pure Go) and in onnxruntime (node, CPU), and of resgo's
# own ResNet built in Go, at batch 32 and 256: ROUNDS rounds (default 5) alternating the two engines, each run SECONDS
# long (default 5), medians printed as a Markdown table. Holds
# /tmp/bench.lock throughout, as every timing on these shared machines must.
#
#   scripts/onnx-speed.sh [ROUNDS] [SECONDS]
#
# onnxruntime runs through ../shared/bench/onnxruntime/bench.js (the shared
# yardstick beside the repository; $ORT_BENCH names another copy).
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-5}
threads=$(nproc)
model=onnx/testdata/torch-resnet.onnx
ort=${ORT_DIR:-$HOME/.cache/resgo-ort}
if [ ! -d "$ort/node_modules/onnxruntime-node" ]; then
	mkdir -p "$ort"
	(cd "$ort" && npm install --silent --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0 >/dev/null)
fi
bench=${ORT_BENCH:-../shared/bench/onnxruntime/bench.js}
[ -f "$bench" ] || { echo "onnx-speed: no $bench (set ORT_BENCH)" >&2; exit 2; }
bench=$(cd "$(dirname "$bench")" && pwd)/$(basename "$bench")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/onnx.test" ./onnx
exec 9>/tmp/bench.lock
flock -x 9
for r in $(seq "$rounds"); do
	for b in 32 256; do
		(cd onnx && "$tmp/onnx.test" -test.run XXX -test.bench "BenchmarkInference/^(torch-onnx|go)\$/^b=$b\$" -test.benchtime "${secs}s") |
			awk -v b="$b" '/images\/s/ { e = ($1 ~ /\/torch-onnx\//) ? "resgo" : ($1 ~ /\/go\//) ? "resgo-go" : ""; for (i = 1; i < NF; i++) if ($(i+1) == "images/s" && e != "") print e, b, $i }' >>"$tmp/runs"
		NODE_PATH="$ort/node_modules" node "$bench" "$model" --batch "$b" --threads "$threads" --seconds "$secs" |
			sed 's/.*"images_per_s":\([0-9.]*\).*/\1/' | awk -v b="$b" '{ print "onnxruntime", b, $1 }' >>"$tmp/runs"
	done
done
flock -u 9
echo "| engine | batch 32 images/s | batch 256 images/s |"
echo "|---|---:|---:|"
for e in resgo onnxruntime resgo-go; do
	case $e in
	resgo) row="| resgo, the file imported (pure Go)" ;;
	onnxruntime) row="| onnxruntime, the file" ;;
	resgo-go) row="| resgo, the same ResNet built in Go" ;;
	esac
	for b in 32 256; do
		med=$(awk -v e="$e" -v b="$b" '$1 == e && $2 == b { print $3 }' "$tmp/runs" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
		row="$row | $med"
	done
	echo "$row |"
done
echo
echo "($rounds rounds alternating the engines, ${secs} s each, $threads threads, medians; $(go version | cut -d' ' -f3), onnxruntime-node 1.30.0)"
