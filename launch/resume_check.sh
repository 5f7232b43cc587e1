#!/usr/bin/env bash
# Resume == uninterrupted, on the real data: train EPOCHS epochs in one go,
# then train STOP epochs, stop, and resume to EPOCHS; the final weights'
# hashes (FNV-1a of every float) must be equal, i.e. bitwise identical.
#   NP=2 EPOCHS=5 STOP=2 launch/resume_check.sh     (needs data/mnist.h5)
set -euo pipefail
cd "$(dirname "$0")/.."
np=${NP:-2}; epochs=${EPOCHS:-5}; stop=${STOP:-2}
out=runs/resume-check-np$np
rm -rf "$out"
common=(--config configs/seed.ini --data data/mnist.h5 --output.progress_seconds 0)
bash launch/train.sh "$np" "${common[@]}" --out "$out/uninterrupted" --train.epochs "$epochs"
bash launch/train.sh "$np" "${common[@]}" --out "$out/stopped" --train.epochs "$stop"
bash launch/train.sh "$np" "${common[@]}" --out "$out/resumed" --train.epochs "$epochs" \
  --resume "$out/stopped/checkpoint.h5"
hash_of() {
  build/bin/dpmnist-eval --checkpoint "$1/checkpoint.h5" --data data/mnist.h5 --json |
    sed 's/.*"weights_fnv1a": *"\([0-9a-f]*\)".*/\1/'
}
a=$(hash_of "$out/uninterrupted"); b=$(hash_of "$out/resumed")
echo "uninterrupted $epochs epochs: weights fnv1a $a"
echo "stopped at $stop, resumed:    weights fnv1a $b"
if [ "$a" = "$b" ]; then echo "resume check: bitwise identical"; else echo "resume check: DIFFERENT"; exit 1; fi
