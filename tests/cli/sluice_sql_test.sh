#!/usr/bin/env bash
# `sluice sql` end to end: -e statements, -f scripts, a script on standard input, the output
# formats, the exit code and message of a failing statement, and unknown flags.
#   tests/cli/sluice_sql_test.sh SLUICE_BINARY
set -euo pipefail
sluice=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

printf 'id,name,score\n1,ann,9.5\n2,bob,\n3,"c, d",7.25\n' > "$work/people.csv"
cat > "$work/setup.sql" <<SQL
CREATE TABLE people (id INT, name STRING, score DOUBLE) WITH ('connector' = 'filesystem',
  'path' = '$work/people.csv', 'format' = 'csv', 'csv.ignore-first-line' = 'true');
SQL

# A table, right-aligned numbers, a row count.
out=$("$sluice" sql -f "$work/setup.sql" -e "SELECT id, name FROM people ORDER BY id")
grep -q '^| id | name |$' <<<"$out" || fail "header: $out"
grep -q '^|  3 | c, d |$' <<<"$out" || fail "quoted field: $out"
grep -q '^3 rows$' <<<"$out" || fail "row count: $out"

# TSV and CSV.
out=$("$sluice" sql -f "$work/setup.sql" --format tsv -e "SELECT name, score FROM people WHERE id = 2")
[ "$(tail -1 <<<"$out")" = "$(printf 'bob\tNULL')" ] || fail "tsv: $out"
out=$("$sluice" sql -f "$work/setup.sql" --format csv -e "SELECT name FROM people WHERE id = 3")
[ "$(tail -1 <<<"$out")" = '"c, d"' ] || fail "csv: $out"

# A script on standard input.
out=$(printf 'SELECT 1 + 1 AS two;\nSELECT UPPER(%s) AS s;\n' "'x'" | "$sluice" sql --format tsv)
[ "$(tail -1 <<<"$out")" = "X" ] || fail "stdin: $out"

# A failing statement: exit code 1, the statement's place, the line and a caret, a suggestion.
set +e
err=$("$sluice" sql -f "$work/setup.sql" -e "SELECT nme FROM people" 2>&1 >/dev/null)
code=$?
set -e
[ "$code" = 1 ] || fail "exit code $code"
grep -q "^-e #1: .*column 'nme' not found (did you mean 'name'?)" <<<"$err" || fail "message: $err"
grep -q '^  SELECT nme FROM people$' <<<"$err" || fail "line: $err"
grep -q '^         \^$' <<<"$err" || fail "caret: $err"

# A bad CSV field names the file and the line.
printf 'id,name,score\n1,ann,x\n' > "$work/bad.csv"
set +e
err=$("$sluice" sql -e "CREATE TABLE b (id INT, name STRING, score DOUBLE) WITH ('connector' = 'filesystem', 'path' = '$work/bad.csv', 'format' = 'csv', 'csv.ignore-first-line' = 'true')" -e "SELECT * FROM b" 2>&1 >/dev/null)
set -e
grep -q "column 'score': cannot read 'x' as DOUBLE" <<<"$err" || fail "bad field: $err"
grep -q "bad.csv:2" <<<"$err" || fail "bad field place: $err"

# Unknown flags are an error.
if "$sluice" sql --bogus >/dev/null 2>&1; then fail "--bogus accepted"; fi
echo "sluice sql: ok"
