// TPC-H on DuckDB, the same way sluice-tpch-bench runs it: the .tbl files loaded into in-memory
// tables once, each query run once untimed and then --runs times; JSON lines on stdout.
//   node bench/tpch/duckdb_tpch.mjs --data DIR [--runs N] [--threads N] [--queries 1,3]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, '../..');
const { DuckDBInstance } = createRequire(path.join(repo, 'tests/sql/oracle/package.json'))('@duckdb/node-api');
const args = { runs: 3, threads: 1, queries: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; ++i) {
  if (argv[i] === '--data') args.data = argv[++i];
  else if (argv[i] === '--runs') args.runs = Number(argv[++i]);
  else if (argv[i] === '--threads') args.threads = Number(argv[++i]);
  else if (argv[i] === '--queries') args.queries = argv[++i].split(',').map(Number);
  else { console.error(`unknown option ${argv[i]}`); process.exit(2); }
}
const instance = await DuckDBInstance.create(':memory:', { threads: String(args.threads) });
const conn = await instance.connect();
await conn.run(fs.readFileSync(path.join(here, 'schema.sql'), 'utf8'));
const tables = ['region', 'nation', 'part', 'supplier', 'partsupp', 'customer', 'orders', 'lineitem'];
const loadStart = performance.now();
for (const t of tables) {
  const cols = (await conn.runAndReadAll(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_name='${t}' ORDER BY ordinal_position`)).getRows();
  const spec = cols.map(([n, ty]) => `'${n}': '${ty}'`).concat(["'trailing_': 'VARCHAR'"]).join(', ');
  await conn.run(`INSERT INTO ${t} SELECT * EXCLUDE (trailing_) FROM read_csv('${args.data}/${t}.tbl', ` +
    `delim='|', header=false, quote='', escape='', auto_detect=false, columns={${spec}})`);
}
console.log(JSON.stringify({ engine: 'duckdb', load_s: (performance.now() - loadStart) / 1000, threads: args.threads }));
const queries = args.queries || Array.from({ length: 22 }, (_, i) => i + 1);
let sum = 0;
let logSum = 0;
for (const q of queries) {
  const name = `q${String(q).padStart(2, '0')}`;
  const sql = fs.readFileSync(path.join(here, 'queries', `${name}.sql`), 'utf8');
  const rows = (await conn.runAndReadAll(sql)).getRows().length;
  const times = [];
  for (let r = 0; r < args.runs; ++r) {
    const start = performance.now();
    await conn.runAndReadAll(sql);
    times.push(performance.now() - start);
  }
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  sum += median;
  logSum += Math.log(median);
  console.log(JSON.stringify({ query: name, rows, median_ms: median, times_ms: times }));
}
console.log(JSON.stringify({ summary: true, sum_ms: sum, geomean_ms: Math.exp(logSum / queries.length),
  peak_rss_mb: process.memoryUsage().rss / 1048576 }));
