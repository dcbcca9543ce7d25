#!/usr/bin/env bash
# Kill and resume: the fraud-detection example is SIGKILLed twice mid-run and resumed with
# --restore-from latest; its committed output must be exactly that of an uninterrupted run.
# (Parallelism 1: with more source subtasks, which 90-second stragglers count as late depends on
# how far the subtasks are apart when they arrive, in an uninterrupted run too.)
# Usage: fraud_detection_resume_test.sh PATH/TO/fraud_detection
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Late data depends on the periodic watermarks, so both runs go at the same rate.
common=(--transactions 300000 --parallelism 1 --print-summary false --checkpoint-interval 100ms
        --rate 150000)

"$bin" "${common[@]}" --output "$dir/reference" > /dev/null

run=(--output "$dir/run")
for attempt in 1 2; do
  extra=()
  [[ $attempt == 2 ]] && extra=(--restore-from latest)
  "$bin" "${common[@]}" "${run[@]}" "${extra[@]}" > /dev/null 2>> "$dir/stderr" &
  pid=$!
  sleep 0.7
  kill -9 "$pid"
  wait "$pid" && { echo "attempt $attempt finished before it was killed"; exit 1; } || true
done
"$bin" "${common[@]}" --output "$dir/run" --restore-from latest > /dev/null 2>> "$dir/stderr"

[[ $(grep -c "restoring checkpoint" "$dir/stderr") == 2 ]] || { cat "$dir/stderr"; exit 1; }
for sink in windows late; do
  expected=$(cat "$dir"/reference/$sink/part-* | sort)
  actual=$(cat "$dir"/run/$sink/part-* | sort)
  [[ -n $expected ]] || { echo "no $sink output"; exit 1; }
  if [[ "$expected" != "$actual" ]]; then
    echo "$sink differ: $(echo "$expected" | wc -l) lines expected, $(echo "$actual" | wc -l) committed"
    diff <(echo "$expected") <(echo "$actual") | head -5
    exit 1
  fi
done
! ls "$dir"/run/windows/.part* "$dir"/run/late/.part* 2>/dev/null  # nothing left uncommitted
echo "fraud_detection kill and resume: $(echo "$expected" | wc -l) late lines and the windows exactly as uninterrupted"
