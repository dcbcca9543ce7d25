#!/usr/bin/env bash
# scripts/check-layering fails on each kind of wrong include and passes on a tree that has none.
# Usage: check_layering_test.sh PATH/TO/check-layering
set -euo pipefail
check=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/include/sluice/{core,runtime,api,connectors,formats} "$dir"/src/{runtime,state} \
  "$dir"/tests/{runtime,checkpoint}
echo '#pragma once' > "$dir/include/sluice/core/time.h"
printf '#pragma once\n#include "sluice/core/time.h"\n' > "$dir/include/sluice/runtime/task.h"
printf '#pragma once\n#include "sluice/runtime/task.h"\n' > "$dir/include/sluice/api/stream.h"
printf '#pragma once\n#include <nlohmann/json.hpp>\n' > "$dir/include/sluice/formats/json.h"
printf '#include "runtime/channel.h"\n#include "sluice/runtime/task.h"\n' \
  > "$dir/src/runtime/channel.cpp"
echo '#pragma once' > "$dir/src/runtime/channel.h"
printf '#include "runtime/channel.h"\n' > "$dir/tests/runtime/channel_test.cpp"
"$check" "$dir" > "$dir/ok.txt" || { cat "$dir/ok.txt"; echo "a clean tree failed"; exit 1; }

expect_failure() {  # expect_failure FILE CONTENT MESSAGE: the check names FILE and says MESSAGE
  local file=$1 content=$2 message=$3
  mkdir -p "$(dirname "$dir/$file")"
  printf '%s\n' "$content" > "$dir/$file"
  if "$check" "$dir" > "$dir/out.txt"; then
    echo "check-layering passed with $file: $content"
    exit 1
  fi
  grep -F "$message" "$dir/out.txt" | grep -q "^$file[:]" || {
    cat "$dir/out.txt"
    echo "expected '$file: ... $message'"
    exit 1
  }
  rm "$dir/$file"
}
expect_failure include/sluice/runtime/bad.h '#include "sluice/api/stream.h"' \
  "module 'runtime' includes sluice/api/stream.h: 'api' is above it"
expect_failure include/sluice/core/bad.h '#include <sluice/runtime/task.h>' \
  "module 'core' includes sluice/runtime/task.h"
expect_failure src/state/bad.cpp '#include "runtime/channel.h"' \
  "a private header of module 'runtime'"
expect_failure tests/checkpoint/bad_test.cpp '#include "runtime/channel.h"' \
  "a private header of module 'runtime'"
expect_failure include/sluice/connectors/bad.h '#include <nlohmann/json.hpp>' \
  "in a public header (only sluice/formats/json.h may)"
expect_failure src/runtime/bad.cpp '#include <rocksdb/db.h>' "outside src/state/"
expect_failure include/sluice/ml/trainer.h '#include "sluice/core/time.h"' \
  "module 'ml' is not in the layering"
"$check" "$dir" > /dev/null
echo "check-layering catches wrong includes: ok"
