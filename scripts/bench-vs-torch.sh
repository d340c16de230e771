#!/bin/sh
# Side-by-side speed of resgo, PyTorch and onnxruntime on this machine, as the
# README reports it: the programs alternate, each run holds /tmp/bench.lock so
# that no other measurement overlaps, and the medians of RUNS runs are
# printed with resgo's ratio to each yardstick. Needs:
#   apt-get install -y python3-torch libopenblas0-openmp   (PyTorch, and its ONNX export)
#   node, for onnxruntime-node (../shared/bench/onnxruntime/run.sh installs it from npm)
# and ../shared/bench beside this checkout (or BENCH=path/to/shared/bench).
# onnxruntime runs the ResNet as PyTorch exports it (export_onnx.py): the same
# architecture as resgo's, so the inference figures compare the engines.
#
#   scripts/bench-vs-torch.sh [RUNS]        (default 3; 0 with BENCH_OUT only prints)
#
# BENCH_LOCKED=1 when the caller already holds /tmp/bench.lock for the whole
# script (such as /work/bench-quiet, which would otherwise wait on itself).
# BENCH_OUT=dir keeps the runs' JSON in dir and adds to those already there,
# so that several shorter calls give the medians of all their runs.
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
bench=${BENCH:-../shared/bench}
lock="flock -x /tmp/bench.lock"
[ -n "${BENCH_LOCKED:-}" ] && lock=""
export MNIST_DIR="${MNIST_DIR:-$PWD/data/mnist}" # the IDX files reference.py reads
out=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$out"
go build -o "$out/resgo" ./cmd/resgo
[ -f "$out/resnet.onnx" ] || /usr/bin/python3 "$bench/torch/export_onnx.py" --model resnet "$out/resnet.onnx" >/dev/null
i=1
while [ -f "$out/resgo-$i.json" ]; do i=$((i + 1)); done
runs=$((runs + i - 1))
while [ "$i" -le "$runs" ]; do
	$lock "$out/resgo" bench --model resnet --batch 32 --steps 300 --json > "$out/resgo-$i.json"
	$lock sh "$bench/torch/run.sh" --model resnet --mode train --batch 32 --steps 300 > "$out/torch-train-$i.json" 2>/dev/null
	for b in 32 256; do
		$lock sh "$bench/torch/run.sh" --model resnet --mode infer --batch $b > "$out/torch-infer$b-$i.json" 2>/dev/null
		$lock sh "$bench/onnxruntime/run.sh" "$out/resnet.onnx" --batch $b --threads 2 > "$out/ort-infer$b-$i.json"
	done
	i=$((i + 1))
done
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
load = lambda f: json.load(open(f"{d}/{f}"))
runs = lambda f: [load(f"{f}-{i}.json") for i in range(1, n + 1)]
rg, tt = runs("resgo"), runs("torch-train")
ti = {b: runs(f"torch-infer{b}") for b in (32, 256)}
oi = {b: runs(f"ort-infer{b}") for b in (32, 256)}
med = statistics.median
ips = lambda rs: med(r["images_per_s"] for r in rs)
na = float("nan")
rows = [("training images/s, batch 32", med(r["train_images_per_s"] for r in rg), ips(tt), na)]
for b in (32, 256):
    rows.append((f"inference images/s, batch {b}", med(r["infer_images_per_s"][str(b)] for r in rg), ips(ti[b]), ips(oi[b])))
rows.append(("peak RSS while training, MiB", med(r["peak_rss_mib"] for r in rg), med(t["max_rss_mib"] for t in tt), na))
rows.append(("peak RSS, inference at batch 256, MiB", med(r["peak_rss_infer_mib"] for r in rg), med(t["max_rss_mib"] for t in ti[256]), med(t["max_rss_mib"] for t in oi[256])))
f = lambda v: "" if v != v else f"{v:.0f}"
r = lambda a, b: "" if a != a or b != b else f"{a / b:.2f}"
print("| measure | resgo | PyTorch | onnxruntime | resgo / PyTorch | resgo / onnxruntime |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, a, b, c in rows:
    print(f"| {name} | {f(a)} | {f(b)} | {f(c)} | {r(a, b)} | {r(a, c)} |")
print()
print(f"resgo: {med(r['gflops'] for r in rg):.1f} GFLOP/s over whole training steps, "
      f"{100 * med(r['peak_share'] for r in rg):.0f}% of a measured peak of {med(r['peak_gflops'] for r in rg):.0f} GFLOP/s")
print("per-run train:", [round(r["train_images_per_s"]) for r in rg], [t["images_per_s"] for t in tt])
print("per-run infer 256:", [round(r["infer_images_per_s"]["256"]) for r in rg], [t["images_per_s"] for t in ti[256]], [t["images_per_s"] for t in oi[256]])
PY
