#!/bin/sh
# Test accuracy of `resgo train --recipe best` (the tutorial's ResNet on full
# MNIST, AdamW with a per-batch cosine decay, shift and rotation, label
# smoothing, 10 epochs) over several seeds, as the README's table reports
# it: each seed's epochs 1–10, the change from epoch 9 to 10, and the wall
# time. Seeds run one after the other; a seed whose log is complete in OUT
# is kept, so an interrupted measurement continues where it stopped.
#
#   [OUT=dir] scripts/recipe-best.sh [SEED ...]     (default 1 2 3 4 5)
set -eu
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
go build -o "$out/resgo" ./cmd/resgo
[ $# -gt 0 ] || set -- 1 2 3 4 5
for seed in "$@"; do
	if [ ! -e "$out/seed$seed.done" ]; then
		start=$(date +%s)
		"$out/resgo" train --recipe best --seed "$seed" --checkpoint-dir "$out/seed$seed" \
			--log "$out/seed$seed.csv" > "$out/seed$seed.out"
		echo $(($(date +%s) - start)) > "$out/seed$seed.done"
	fi
done
python3 - "$out" "$@" <<'PY'
import csv, statistics, sys
d, seeds = sys.argv[1], sys.argv[2:]
print("| seed | epoch 10 | epochs 9→10 | best epoch | test accuracy, epochs 1–10 | wall time |")
print("| ---: | ---: | ---: | ---: | --- | ---: |")
last = []
for s in seeds:
    acc = [100 * float(r["test_accuracy"]) for r in csv.DictReader(open(f"{d}/seed{s}.csv"))]
    secs = int(open(f"{d}/seed{s}.done").read())
    best = max(range(len(acc)), key=lambda i: acc[i])
    last.append(acc[-1])
    print(f"| {s} | {acc[-1]:.2f}% | {acc[-1] - acc[-2]:+.2f} | {acc[best]:.2f}% ({best + 1}) | "
          f"{' '.join(f'{a:.2f}' for a in acc)} | {secs // 60} min |")
print(f"\nepoch 10: median {statistics.median(last):.2f}%, lowest {min(last):.2f}% over {len(last)} seeds")
PY
echo "outputs in $out"
