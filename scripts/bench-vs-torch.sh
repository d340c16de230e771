#!/bin/sh
# Side-by-side speed of resgo and PyTorch on this machine, as the README
# reports it: the two programs alternate, each run holds /tmp/bench.lock so
# that no other measurement overlaps, and the medians of RUNS runs are
# printed. Needs: apt-get install -y python3-torch libopenblas0-openmp, and
# ../shared/bench/torch/run.sh beside this checkout (or TORCH=path/to/run.sh).
#
#   scripts/bench-vs-torch.sh [RUNS]        (default 3)
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
torch=${TORCH:-../shared/bench/torch/run.sh}
out=$(mktemp -d)
go build -o "$out/resgo" ./cmd/resgo
i=1
while [ "$i" -le "$runs" ]; do
	flock -x /tmp/bench.lock "$out/resgo" bench --model resnet --batch 32 --steps 300 --json > "$out/resgo-$i.json"
	flock -x /tmp/bench.lock sh "$torch" --model resnet --mode train --batch 32 --steps 300 > "$out/torch-train-$i.json" 2>/dev/null
	flock -x /tmp/bench.lock sh "$torch" --model resnet --mode infer --batch 256 > "$out/torch-infer-$i.json" 2>/dev/null
	i=$((i + 1))
done
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
load = lambda f: json.load(open(f"{d}/{f}"))
rg = [load(f"resgo-{i}.json") for i in range(1, n + 1)]
tt = [load(f"torch-train-{i}.json") for i in range(1, n + 1)]
ti = [load(f"torch-infer-{i}.json") for i in range(1, n + 1)]
med = statistics.median
rows = [
    ("training images/s, batch 32", med(r["train_images_per_s"] for r in rg), med(t["images_per_s"] for t in tt)),
    ("inference images/s, batch 256", med(r["infer_images_per_s"]["256"] for r in rg), med(t["images_per_s"] for t in ti)),
    ("peak RSS while training, MiB", med(r["peak_rss_mib"] for r in rg), med(t["max_rss_mib"] for t in tt)),
]
print("| measure | resgo | PyTorch | ratio |")
print("| --- | ---: | ---: | ---: |")
for name, a, b in rows:
    print(f"| {name} | {a:.0f} | {b:.0f} | {a / b:.2f} |")
print()
print(f"resgo: {med(r['gflops'] for r in rg):.1f} GFLOP/s over whole training steps, "
      f"{100 * med(r['peak_share'] for r in rg):.0f}% of a measured peak of {med(r['peak_gflops'] for r in rg):.0f} GFLOP/s; "
      f"inference at batch 32: {med(r['infer_images_per_s']['32'] for r in rg):.0f} images/s")
print("per-run:", [round(r["train_images_per_s"]) for r in rg], [t["images_per_s"] for t in tt], [t["images_per_s"] for t in ti])
PY
