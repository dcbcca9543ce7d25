#!/usr/bin/env bash
# End to end: the fraud-detection example reading its transactions from Kafka (the test broker
# process, fed by kcat) instead of a file: the same windows as the CSV test, malformed records
# reported with topic, partition and offset.
# Usage: fraud_detection_kafka_test.sh PATH/TO/fraud_detection PATH/TO/kafka_test_broker
set -euo pipefail
bin=$1
broker=$2
dir=$(mktemp -d)
coproc BROKER { "$broker"; }
trap 'rc=$?; echo quit >&"${BROKER[1]}" || true; wait || true; [ $rc -eq 0 ] || cat "$dir/stderr" >&2 || true; rm -rf "$dir"' EXIT
read -r bootstrap <&"${BROKER[0]}"
echo "topic tx 2" >&"${BROKER[1]}"
read -r reply <&"${BROKER[0]}"
[ "$reply" = ok ]
# Keyed by customer (a customer's transactions are in one partition, in order).
tx() { printf '%s\t{"customer_id":%s,"merchant_id":%s,"amount":%s,"ts":%s}\n' "$1" "$1" "$2" "$3" "$4"; }
{
  tx 1 10 20.0 1767225600000
  tx 1 11 20.0 1767225610000
  tx 1 12 2000.0 1767225620000
  printf '1\toops\n'
  tx 2 10 50.0 1767225660000
  printf '2\t{"customer_id":2,"merchant_id":10,"amount":"x","ts":1767225661000}\n'
  tx 3 10 1.0 1767225790000
  for m in 10 11 12 13 14 15 16 17 18 19; do tx 4 "$m" 1.0 $((1767225791000 + (m - 10) * 100)); done
  tx 1 13 1.0 1767225630000
} > "$dir/tx.txt"
kcat -q -P -b "$bootstrap" -t tx -K '\t' -l "$dir/tx.txt"
out=$("$bin" --source kafka --bootstrap "$bootstrap" --topic tx --bounded true \
        --output "$dir/out" --out-of-orderness 1s --parallelism 2 --auto-watermark-interval 1h \
        --print-summary false 2> "$dir/stderr")
echo "$out"
grep -Eq "tx-[01] offset [0-9]+: skipped malformed record .*oops" "$dir/stderr"
grep -Eq "tx-[01] offset [0-9]+: skipped malformed record .*\"amount\":\"x\"" "$dir/stderr"
echo "$out" | grep -q "windows fired: 4 .*late transactions: 0 .*malformed lines: 2"
windows=$(cat "$dir"/out/windows/part-*.jsonl)
echo "$windows" | grep -q '"count":4,"customer_id":1,"distinct_merchants":4,"max_amount":2000.0'
echo "$windows" | grep -q '"count":1,"customer_id":2,.*"window_start":1767225660000'
echo "$windows" | grep -q '"count":10,"customer_id":4,"distinct_merchants":10'
echo "fraud_detection from Kafka: ok"
