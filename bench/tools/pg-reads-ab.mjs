// Other agents' ingest while the page, the matrix and /metrics are read in a loop, on PostgreSQL, for two (or more)
// builds side by side: one site of N agents x 40 rows is seeded once (by the first build's store), copied for each
// build (CREATE DATABASE ... TEMPLATE), and the builds take turns, round after round, on their own copy. Each round
// starts that build's coordinator, reads `/`, the matrix and /metrics once (the first count), posts --reports reports
// of 20 seeded agents (4 in flight) with no reads (unless --cold: these are also the ingest path's warm-up), then as
// many while one reader requests `/`, `/api/v1/matrix` and `/metrics` in turn. It prints each phase's ingest p50 and
// p99 and its five slowest reports (with their place in the sequence), the reads' medians, how many counts of the
// site ran (a trigger logs each write of matrix_counts), and the CPU of the coordinator and of PostgreSQL meanwhile.
//
//   node bench/tools/pg-reads-ab.mjs [--agents N] [--reports N] [--rounds N] [--cold] BUILD_DIR[:NODE_OPTIONS]...
//
// A BUILD_DIR holds bin/reachgate (a worktree, or a copy of bin/ bundle/ dist/ with node_modules linked); node
// options after a colon are given to its coordinator (e.g. `/tmp/base:--require=/tmp/stall.cjs`).
// PG_READS_PHASES=1 prints each phase's start and end (Date.now() modulo 100 s), to match with a lag log.
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { startPostgres, whyNoPostgres } from '../lib/postgres.mjs';
import { median } from '../lib/measure.mjs';
import { processCpuMs, reportJson, startCoordinator } from '../ingest.mjs';
import { ROLES, percentile, seed, seededTokens, timedGet } from '../pg-fleet.mjs';

const { values, positionals: builds } = parseArgs({
  allowPositionals: true,
  options: {
    agents: { type: 'string', default: '5000' },
    reports: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '2' },
    cold: { type: 'boolean', default: false },
    pause: { type: 'string', default: '0' },
  },
});
const AGENTS = Number(values.agents);
const REPORTS = Number(values.reports);
const ROUNDS = Number(values.rounds);
if (builds.length === 0 || ![AGENTS, REPORTS, ROUNDS].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write(
    'usage: node bench/tools/pg-reads-ab.mjs [--agents N] [--reports N] [--rounds N] BUILD_DIR...\n',
  );
  process.exit(2);
}
const why = whyNoPostgres();
if (why) {
  process.stderr.write(`pg-reads-ab: ${why}\n`);
  process.exit(1);
}
const TIMEOUT_MS = 300_000;
const sides = builds.map((spec) => {
  const [dir, ...node] = spec.split(':');
  return { dir: resolve(dir), node: node.join(':').split(' ').filter(Boolean) };
});
const firstDist = (path) => import(pathToFileURL(join(sides[0].dir, 'dist', 'src', path)).href);
const { PgStore } = await firstDist('coordinator/pg-store.js');
const { createToken } = await firstDist('coordinator/tokens.js');
const postgres = (await import('postgres')).default;

/** Posts of the seeded agents, 4 in flight, while one reader requests the page, the matrix and /metrics in turn. */
async function ingestWhileRead(url, viewer, tokens, prefix, read = true) {
  const names = Object.keys(tokens);
  const pool = new Pool(url, { connections: 4 });
  const reads = { '/': [], '/api/v1/matrix': [], '/metrics': [] };
  let done = !read;
  const reader = (async () => {
    while (!done)
      for (const path of Object.keys(reads)) if (!done) reads[path].push((await timedGet(`${url}${path}`, viewer)).ms);
  })();
  const latencies = [];
  const order = [];
  const wrong = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < REPORTS) {
          const i = next++;
          const agent = names[i % names.length];
          const t0 = performance.now();
          const response = await pool.request({
            path: '/api/v1/reports',
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[agent]}`, 'content-type': 'application/json' },
            body: reportJson(`${prefix}-${i}`, agent, ROLES[names.indexOf(agent) % ROLES.length]),
            headersTimeout: TIMEOUT_MS,
            bodyTimeout: TIMEOUT_MS,
          });
          await response.body.text();
          latencies.push(performance.now() - t0);
          order.push([performance.now() - t0, i]);
          if (response.statusCode !== 201 && wrong.length < 3) wrong.push(String(response.statusCode));
        }
      }),
    );
  } finally {
    done = true;
    await reader;
    await pool.close();
  }
  // The slowest five, with their places in the sequence (a cold coordinator's first reports are the slow ones).
  const slowest = order
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5)
    .map(([ms, i]) => `#${i} ${Math.round(ms)}`);
  return { latencies: latencies.sort((a, b) => a - b), reads, wrong, slowest };
}

/** A connection to one database of the cluster. */
function connectTo(db) {
  return postgres(db.replace(/\?host=([^&]+)/, ''), {
    host: decodeURIComponent(/\?host=([^&]+)/.exec(db)[1]),
    max: 1,
    onnotice: () => {},
  });
}

/** Counts kept so far in a database: each count of the site writes its matrix_counts row once (a trigger logs it). */
async function countsKept(db) {
  const sql = connectTo(db);
  try {
    const [row] = await sql`SELECT COUNT(*) AS n FROM bench_count_log`;
    return Number(row.n);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const cluster = startPostgres();
try {
  const url = cluster.url;
  const store = await PgStore.open(url);
  const viewer = (await createToken(store, { kind: 'viewer' })).token;
  const tokens = await seededTokens(store, createToken, 20);
  const t0 = performance.now();
  await seed(store, AGENTS);
  await store.close();
  process.stdout.write(`seeded ${AGENTS} agents in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  const admin = postgres(cluster.url.replace(/\/postgres\?host=([^&]+)/, '/template1'), {
    host: decodeURIComponent(/\?host=([^&]+)/.exec(cluster.url)[1]),
    max: 1,
    onnotice: () => {},
  });
  for (const [index, side] of sides.entries()) {
    await admin.unsafe(`CREATE DATABASE build${index} TEMPLATE postgres`);
    side.db = url.replace('/postgres?', `/build${index}?`);
    const sql = connectTo(side.db);
    await sql
      .unsafe(
        `CREATE TABLE bench_count_log (at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE FUNCTION bench_count_logged() RETURNS trigger LANGUAGE plpgsql AS
           'BEGIN INSERT INTO bench_count_log DEFAULT VALUES; RETURN NEW; END';
         CREATE TRIGGER bench_count_log AFTER INSERT OR UPDATE ON matrix_counts
           FOR EACH ROW EXECUTE FUNCTION bench_count_logged()`,
      )
      .simple();
    await sql.end({ timeout: 5 });
  }
  await admin.end();
  for (let round = 0; round < ROUNDS; round++)
    for (const [index, side] of round % 2 ? [...sides.entries()].reverse() : [...sides.entries()]) {
      const load = loadavg()[0];
      const coordinator = await startCoordinator(side.db, join(side.dir, 'bin', 'reachgate'), side.node);
      try {
        for (const path of ['/', '/api/v1/matrix', '/metrics']) await timedGet(`${coordinator.url}${path}`, viewer);
        // Unless --cold: the same number of reports first with no reads (also V8's warm-up of the ingest path).
        const alone = values.cold ? null : await ingestWhileRead(coordinator.url, viewer, tokens, `q${round}`, false);
        const countsBefore = await countsKept(side.db);
        const pgBefore = cluster.pids().reduce((sum, pid) => sum + processCpuMs(pid), 0);
        const cpuBefore = coordinator.cpuMs();
        // --pause S: wait before the phase with reads (past the count keeper's gap, the first read starts a count).
        await new Promise((resolve) => setTimeout(resolve, Number(values.pause) * 1000));
        const phaseStart = Date.now() % 100_000;
        const got = await ingestWhileRead(coordinator.url, viewer, tokens, `r${round}`);
        if (process.env.PG_READS_PHASES) process.stdout.write(`phase ${phaseStart}-${Date.now() % 100_000}\n`);
        const cpu = coordinator.cpuMs() - cpuBefore;
        const pgCpu = cluster.pids().reduce((sum, pid) => sum + processCpuMs(pid), 0) - pgBefore;
        const counts = (await countsKept(side.db)) - countsBefore;
        const reads = Object.entries(got.reads)
          .map(([path, ms]) => `${path} ${ms.length}x p50 ${Math.round(median(ms))}`)
          .join(', ');
        process.stdout.write(
          `round ${round + 1} build ${index} (${side.dir}): ` +
            (alone
              ? `no reads: ingest p50 ${percentile(alone.latencies, 0.5).toFixed(1)} ` +
                `p99 ${percentile(alone.latencies, 0.99).toFixed(1)} ms (slowest ${alone.slowest.join(', ')}); `
              : 'cold; ') +
            `while read: slowest ${got.slowest.join(', ')}; ingest p50 ${percentile(got.latencies, 0.5).toFixed(1)} ` +
            `p99 ${percentile(got.latencies, 0.99).toFixed(1)} max ${got.latencies.at(-1).toFixed(1)} ms; ${reads}; ` +
            `${counts} counts of the site; coordinator CPU ${Math.round(cpu)} ms, PostgreSQL CPU ${Math.round(pgCpu)} ms; ` +
            `load ${load.toFixed(1)} -> ${loadavg()[0].toFixed(1)}${got.wrong.length ? `; answered ${got.wrong}` : ''}\n`,
        );
      } finally {
        await coordinator.stop();
      }
    }
} finally {
  cluster.stop();
}
