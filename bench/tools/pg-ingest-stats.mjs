// Where ingest's PostgreSQL time goes: the PostgreSQL store in this process (no HTTP), 40-result
// reports of 50 agents, 64 in flight, on a throwaway cluster with pg_stat_statements; prints the
// CPU per report of this process and of the server, and the statements by total time.
//
//   npm run build && node bench/tools/pg-ingest-stats.mjs [REPORTS [IN_FLIGHT]]
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../lib/measure.mjs';
import { startPostgres, whyNoPostgres } from '../lib/postgres.mjs';
import { processCpuMs, reportJson } from '../ingest.mjs';

const REPORTS = Number(process.argv[2] ?? 4000);
const AGENTS = 50;
const IN_FLIGHT = Number(process.argv[3] ?? 64);
const why = whyNoPostgres();
if (why) {
  process.stderr.write(`pg-ingest-stats: ${why}\n`);
  process.exit(1);
}
const STATS_OPTIONS = '-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all';
process.env.REACHGATE_BENCH_PG_OPTIONS = `${process.env.REACHGATE_BENCH_PG_OPTIONS ?? ''} ${STATS_OPTIONS}`;
const dist = (path) => import(pathToFileURL(join(ROOT, 'dist', 'src', path)).href);
const { PgStore } = await dist('coordinator/pg-store.js');
const { compileReportCheck } = await dist('coordinator/report-schema.js');
const { parseJson } = await dist('coordinator/server.js');
const cluster = startPostgres();
try {
  const store = await PgStore.open(cluster.url);
  await store.query('CREATE EXTENSION pg_stat_statements');
  const check = compileReportCheck();
  const post = async (i) => {
    const text = reportJson(`r-${i}`, `ws-${i % AGENTS}`, 'workstation');
    const { report } = check(parseJson(text));
    return store.addReport(report, text, new Date());
  };
  for (let i = 0; i < 500; i++) await post(-1 - i);
  await store.query('SELECT pg_stat_statements_reset()');
  const pgBefore = new Map(cluster.pids().map((pid) => [pid, processCpuMs(pid)]));
  const nodeBefore = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < REPORTS) await post(next++);
    }),
  );
  const wallMs = performance.now() - started;
  const node = process.cpuUsage(nodeBefore);
  const pgMs = cluster.pids().reduce((sum, pid) => sum + processCpuMs(pid) - (pgBefore.get(pid) ?? 0), 0);
  const stats = await store.query(
    `SELECT calls, round(total_exec_time::numeric, 0) AS ms, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
     FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15`,
  );
  console.log(
    `${REPORTS} reports in ${(wallMs / 1000).toFixed(1)} s (${Math.round(REPORTS / (wallMs / 1000))}/s), load ${loadavg()[0].toFixed(1)}`,
  );
  console.log(
    `CPU per report: this process ${((node.user + node.system) / 1000 / REPORTS).toFixed(3)} ms, PostgreSQL ${(pgMs / REPORTS).toFixed(3)} ms`,
  );
  for (const row of stats)
    console.log(`${String(row.ms).padStart(7)} ms ${String(row.calls).padStart(6)} calls  ${row.query}`);
  await store.close();
} finally {
  cluster.stop();
}
