#!/bin/sh
# Test accuracy of the tutorial's recipe (ResNet, Adam 1e-3, batch 32, 10
# epochs on full MNIST) in resgo and in PyTorch, over several seeds, as the
# README reports it. Each seed trains once in each engine, one after the
# other (about 10 minutes each on 2 cores). Needs: apt-get install -y
# python3-torch libopenblas0-openmp, and ../shared/bench/torch/run.sh beside
# this checkout (or TORCH=path/to/run.sh). The seeds are not comparable
# across engines (their random streams differ); the spread is the point.
#
#   [OUT=dir] scripts/accuracy-vs-torch.sh [SEED ...]     (default 1 2 3)
set -eu
cd "$(dirname "$0")/.."
torch=${TORCH:-../shared/bench/torch/run.sh}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
go build -o "$out/resgo" ./cmd/resgo
[ $# -gt 0 ] || set -- 1 2 3
for seed in "$@"; do
	# Runs whose output is already in OUT are kept, so an interrupted
	# comparison continues where it stopped; a run's output appears there
	# only once the run has finished.
	if [ ! -s "$out/resgo-$seed.txt" ]; then
		"$out/resgo" train --seed "$seed" > "$out/resgo-$seed.part"
		mv "$out/resgo-$seed.part" "$out/resgo-$seed.txt"
	fi
	if [ ! -s "$out/torch-$seed.json" ]; then
		sh "$torch" --model resnet --mode epoch --epochs 10 --seed "$seed" > "$out/torch-$seed.part" 2>/dev/null
		mv "$out/torch-$seed.part" "$out/torch-$seed.json"
	fi
done
python3 - "$out" "$@" <<'PY'
import json, re, statistics, sys
d, seeds = sys.argv[1], sys.argv[2:]
rows = []
for s in seeds:
    acc = [float(a) for a in re.findall(r"Test Accuracy: ([0-9.]+)", open(f"{d}/resgo-{s}.txt").read())]
    rows.append(("resgo", s, acc))
    acc = [e["test_accuracy"] for e in json.load(open(f"{d}/torch-{s}.json"))["epochs"]]
    rows.append(("PyTorch", s, acc))
print("| engine | seed | epoch 1 | epoch 10 | best epoch | epochs 1–10 |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
for eng, s, acc in rows:
    best = max(range(len(acc)), key=lambda i: acc[i])
    print(f"| {eng} | {s} | {acc[0]:.2f}% | {acc[-1]:.2f}% | {acc[best]:.2f}% ({best + 1}) | {' '.join(f'{a:.2f}' for a in acc)} |")
for eng in ("resgo", "PyTorch"):
    last = [acc[-1] for e, _, acc in rows if e == eng]
    first = [acc[0] for e, _, acc in rows if e == eng]
    print(f"\n{eng}: epoch 1 median {statistics.median(first):.2f}%, epoch 10 median {statistics.median(last):.2f}% "
          f"(range {min(last):.2f}–{max(last):.2f})", end="")
print()
PY
echo "outputs in $out"
