// Benchmark: several coordinators on one PostgreSQL, and the cells-only matrix at fleet scale.
//
// Ingest: two coordinator processes on one PostgreSQL database (fsync on), 5,000 agents' 40-result
// reports posted to both alternately, 32 requests in flight at each (until 2026-11-30 50 agents: every batch of
// both coordinators then locked the same few agent rows, which a fleet sending 2,000 reports/s, thousands of
// agents, does not; the 50-agent run is kept as a reference row, REACHGATE_BENCH_INGEST_AGENTS sets the main one). Beside it, alternating, a bare
// loop over one connection inserts the same report rows into the same schema (a copy of the store's reports
// table: columns, keys, indexes, compression), one transaction
// per report (same durability: synchronous_commit on, fsync on); and the same with 32 reports per
// transaction (reference).
//
// Matrix: a store seeded with N agents x 40 rows (one 40-result report each) through the store,
// then the HTML page (its first view after the coordinator starts, then later views), GET
// /api/v1/matrix (the default page: 1,000 cells, whole summary), GET /metrics, every cell read page by
// page (10,000 per request, up to 5,000 agents), 1,000 reports with no reads (the process's first: reference), and
// ingest latency while one reader requests the page, the matrix and /metrics in a loop; the coordinator's peak RSS (VmHWM). SQLite and PostgreSQL at 5,000
// agents; PostgreSQL at 50,000 when REACHGATE_BENCH_50K=1 (about 700 MB of reports).
// REACHGATE_BENCH_INGEST_ONLY=1 runs only the ingest part, REACHGATE_BENCH_MATRIX_ONLY=1 only the matrix;
// REACHGATE_BENCH_NODE_ARGS passes node options to the coordinators (e.g. --cpu-prof).
// REACHGATE_BENCH_BASE=DIR (a copy of an earlier build: bin/, dist/, bundle/, package.json, node_modules) measures
// the matrix part side by side: each site is seeded once by that build's store, copied (SQLite: the file;
// PostgreSQL: CREATE DATABASE ... TEMPLATE), and both builds are measured in turn on their own copy, nothing
// counted before (rows "base:" and "this:"; the order alternates per site).
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Pool, request } from 'undici';
import { REACHGATE, ROOT, median } from './lib/measure.mjs';
import { startPostgres, whyNoPostgres } from './lib/postgres.mjs';
import { deliver, ingestFixtures, processCpuMs, reportJson, startCoordinator } from './ingest.mjs';

export const title =
  'Coordinators on PostgreSQL: ingest through two processes, and the cells-only matrix at 5,000 (and 50,000) agents';

/** Agents the measured reports cycle through (each report still 40 results), and the reference run's. */
const INGEST_AGENTS = Number(process.env.REACHGATE_BENCH_INGEST_AGENTS ?? 5000);
const REFERENCE_AGENTS = 50;
/**
 * Reports in a measured run (REACHGATE_BENCH_INGEST_REPORTS; 2,000 until 2026-11-30 21:00 UTC): at ~1,800 reports/s
 * 2,000 made a window of ~1.1 s, where one checkpoint or one major GC of the load generator's heap moved the rate by a
 * third (1,222 and 1,814 reports/s in two idle runs of one build, 20:53 and 20:55 UTC).
 */
const INGEST_REPORTS = Number(process.env.REACHGATE_BENCH_INGEST_REPORTS ?? 6000);
/**
 * Reports posted before the first measured run (200 until 2026-11-30, then 1,000, then 16,000, now 40,000;
 * REACHGATE_BENCH_WARMUP): V8 optimizes the ingest path's functions one by one as each turns hot (TurboFan on worker
 * threads), and a small function called once per request turns hot only after thousands of requests (three interrupt
 * budgets of 66 KB of its bytecode run). Counted with --trace-opt (2026-12-01, two coordinators, 5,000 agents):
 * 260, 184, 74, 45, 24, 17 compiles in the first six blocks of 2,000 reports, 6-18 per block up to 30,000, 3-6 per
 * block after 30,000; fastify's preRouting was first optimized after ~10,000 requests per coordinator. So after 16,000
 * the measured runs still compiled and partly ran unoptimized code; after 5,000 a 12,000-report run compiled ~180
 * functions, and the same build gave 2,061 reports/s at 536 µs of coordinator CPU per report against 2,476 at 457 µs
 * after 40,000 (ingest-ab, the same minutes). A long-running coordinator pays that once, in its first ~20,000
 * reports; the reference run (50 agents) keeps 1,000, the early window.
 */
const WARMUP_REPORTS = Number(process.env.REACHGATE_BENCH_WARMUP ?? 40000);
const REFERENCE_WARMUP = 1000;
/**
 * Requests in flight at each coordinator (REACHGATE_BENCH_IN_FLIGHT to change; 16 until 2026-11-30). A fleet sending
 * 2,000 reports/s whose posts take 50 ms has 100 in flight; with 32 in all, batches held about four reports and each
 * paid a transaction's cost (PostgreSQL 558 µs per report against 200-350 at 64 in flight).
 */
const IN_FLIGHT_EACH = Number(process.env.REACHGATE_BENCH_IN_FLIGHT ?? 32);
const ROWS = 40;
const RATE_GOAL = 2000;
const RATIO_GOAL = 0.5;
const MATRIX_GOAL_MS = 300;
const RSS_GOAL_MIB = 300;
const TIMEOUT_MS = 300_000;
export const ROLES = ['workstation', 'tightgate', 'monitoring', 'dmz'];
/** Agents of the smaller site (REACHGATE_BENCH_AGENTS to try the benchmark on a smaller one). */
const SMALL = Number(process.env.REACHGATE_BENCH_AGENTS ?? 5000);
/**
 * Reports posted (4 in flight) while the page, the matrix and /metrics are read in a loop (400 until 2026-11-30
 * 22:50 UTC: a phase of ~1.5 s, which a background count of the site (at most one per 5 s) fell into or not by
 * chance, and a p99 that was the 4th slowest; 1,000 take ~4 s, so the phase holds a count as a reader's loop would).
 */
const WHILE_READ_REPORTS = 1000;

const dist = (path) => import(pathToFileURL(join(ROOT, 'dist', 'src', path)).href);
/** The earlier build to compare with (REACHGATE_BENCH_BASE), or null. */
const BASE = process.env.REACHGATE_BENCH_BASE || null;

/**
 * The same report rows through one bare postgres.js connection, `perTransaction` per commit, into a fresh schema;
 * its rate and the server's CPU (all its processes) while it ran.
 */
async function bareLoop(postgres, cluster, schema, bodies, perTransaction) {
  const url = cluster.url;
  const sql = postgres(url.replace(/\?host=([^&]+)/, ''), {
    host: decodeURIComponent(/\?host=([^&]+)/.exec(url)[1]),
    max: 1,
    onnotice: () => {},
  });
  try {
    await sql
      .unsafe(
        // The store's own reports table: its columns, keys, indexes and the texts' compression.
        `CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.reports (LIKE ingest.reports INCLUDING ALL)`,
      )
      .simple();
    const pgCpu = () => new Map(cluster.pids().map((pid) => [pid, processCpuMs(pid)]));
    const before = pgCpu();
    const started = performance.now();
    for (let i = 0; i < bodies.length; i += perTransaction) {
      const rows = bodies.slice(i, i + perTransaction);
      await sql.begin(async (tx) => {
        for (const { id, agentName, body } of rows)
          await tx`INSERT INTO ${tx(schema)}.reports (id, agent, role, site, received_at, json)
                   VALUES (${id}, ${agentName}, 'workstation', 'bench', ${new Date().toISOString()}, ${body}) ON CONFLICT (id) DO NOTHING`;
      });
    }
    const rate = bodies.length / ((performance.now() - started) / 1000);
    const pgCpuMs = [...pgCpu()].reduce((sum, [pid, ms]) => sum + ms - (before.get(pid) ?? 0), 0);
    return { rate, pgCpuMs };
  } finally {
    await sql.unsafe(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    await sql.end({ timeout: 5 });
  }
}

export const agentName = (i) => `agent-${String(i).padStart(5, '0')}`;

/** Seed a store with `agents` agents' 40-row reports, 1,000 at a time. */
export async function seed(store, agents) {
  for (let chunk = 0; chunk < agents; chunk += 1000) {
    await Promise.all(
      Array.from({ length: Math.min(1000, agents - chunk) }, (_, j) => {
        const i = chunk + j;
        const text = reportJson(`seed-${i}`, agentName(i), ROLES[i % ROLES.length]);
        return store.addReport(JSON.parse(text), text, new Date());
      }),
    );
  }
}

/** Tokens of the first `count` seeded agents, for ingest while the site is read. */
export async function seededTokens(store, createToken, count) {
  const tokens = {};
  for (let i = 0; i < count; i++)
    tokens[agentName(i)] = (
      await createToken(store, { kind: 'agent', agent: agentName(i), role: ROLES[i % ROLES.length] })
    ).token;
  return tokens;
}

/** Percentile of sorted samples. */
export const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

export async function timedGet(url, viewer) {
  const t0 = performance.now();
  const response = await request(url, {
    headers: { authorization: `Bearer ${viewer}` },
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
  });
  const text = await response.body.text();
  return { ms: performance.now() - t0, status: response.statusCode, text };
}

/**
 * Reports of the seeded agents with `tokens`, `inFlight` at a time, while one reader requests the page, the
 * matrix and /metrics in turn; each report's latency (ms, sorted) and the reads' latencies by path.
 */
async function ingestWhileRead(
  coordinator,
  viewer,
  tokens,
  reports,
  inFlight,
  { read = true, prefix = 'while-read' } = {},
) {
  const names = Object.keys(tokens);
  const pool = new Pool(coordinator.url, { connections: inFlight });
  const reads = { '/': [], '/api/v1/matrix': [], '/metrics': [] };
  let done = !read;
  const reader = (async () => {
    while (!done)
      for (const path of Object.keys(reads))
        if (!done) reads[path].push((await timedGet(`${coordinator.url}${path}`, viewer)).ms);
  })();
  const latencies = [];
  const wrong = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < reports) {
          const i = next++;
          const agent = names[i % names.length];
          const id = `${prefix}-${i}`;
          const t0 = performance.now();
          const response = await pool.request({
            path: '/api/v1/reports',
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[agent]}`, 'content-type': 'application/json' },
            body: reportJson(id, agent, ROLES[names.indexOf(agent) % ROLES.length]),
            headersTimeout: TIMEOUT_MS,
            bodyTimeout: TIMEOUT_MS,
          });
          await response.body.text();
          latencies.push(performance.now() - t0);
          if (response.statusCode !== 201 && wrong.length < 3) wrong.push(String(response.statusCode));
        }
      }),
    );
  } finally {
    done = true;
    await reader;
    await pool.close();
  }
  return { latencies: latencies.sort((a, b) => a - b), reads, wrong };
}

/** The page's first view, the matrix, metrics, ingest under reads and (up to 5,000 agents) full paging, on `db`. */
async function measureMatrix(db, viewer, agents, reps, tokens, reachgate) {
  const coordinator = await startCoordinator(db, reachgate);
  try {
    const afterStart = coordinator.memory();
    // The first view after start counts every cell unless a count is kept; the next ones reuse it or a newer one.
    const page = [];
    for (let rep = 0; rep < 3; rep++) {
      const got = await timedGet(`${coordinator.url}/`, viewer);
      if (got.status !== 200) throw new Error(`GET /: ${got.status} ${got.text.slice(0, 200)}`);
      page.push(got.ms);
    }
    const matrix = [];
    let summary;
    for (let rep = 0; rep < Math.max(reps, 5); rep++) {
      const got = await timedGet(`${coordinator.url}/api/v1/matrix`, viewer);
      matrix.push(got.ms);
      if (got.status !== 200) throw new Error(`GET /api/v1/matrix: ${got.status} ${got.text.slice(0, 200)}`);
      summary = JSON.parse(got.text).summary;
      matrix.bytes = got.text.length;
    }
    const metrics = [];
    for (let rep = 0; rep < 3; rep++) metrics.push((await timedGet(`${coordinator.url}/metrics`, viewer)).ms);
    let allMs = null;
    let cells = agents * ROWS;
    if (agents <= 5000) {
      const t0 = performance.now();
      cells = 0;
      for (let offset = 0; offset !== null;) {
        const got = await timedGet(`${coordinator.url}/api/v1/matrix?limit=10000&offset=${offset}`, viewer);
        const page = JSON.parse(got.text);
        cells += page.cells.length;
        offset = page.page.next_offset;
      }
      allMs = performance.now() - t0;
    }
    const ok = summary.agents === agents && summary.cells === agents * ROWS && cells === agents * ROWS;
    // The same reports with no reads first: the ingest path's first reports in a process (V8 compiling it, each
    // pool connection preparing its statements) took 100-300 ms each and were the p99 of the phase below.
    const alone = await ingestWhileRead(coordinator, viewer, tokens, WHILE_READ_REPORTS, 4, {
      read: false,
      prefix: 'no-read',
    });
    const underReads = await ingestWhileRead(coordinator, viewer, tokens, WHILE_READ_REPORTS, 4);
    return {
      page,
      matrix,
      metrics,
      allMs,
      cells,
      ok,
      summary,
      alone,
      underReads,
      memory: coordinator.memory(),
      afterStart,
    };
  } finally {
    await coordinator.stop();
  }
}

/**
 * The first views after a restart: the coordinator that counted (measureMatrix) kept its last count in the
 * database, and reports arrived after it, so the new process serves that count at once (as of its time).
 */
async function measureRestart(db, viewer, reachgate) {
  const coordinator = await startCoordinator(db, reachgate);
  try {
    const page = await timedGet(`${coordinator.url}/`, viewer);
    const matrix = await timedGet(`${coordinator.url}/api/v1/matrix`, viewer);
    if (page.status !== 200 || matrix.status !== 200)
      throw new Error(`after a restart: ${page.status} ${matrix.status}`);
    const { summary } = JSON.parse(matrix.text);
    return { page: page.ms, matrix: matrix.ms, current: summary.current, asOf: summary.as_of ?? null };
  } finally {
    await coordinator.stop();
  }
}

function row(metric, unit, reachgate, peer = null, goal = null, met = null) {
  return { metric, unit, reachgate, peer, ratio: peer ? reachgate / peer : null, goal, met };
}

export default async function pgFleet({ reps = 3 } = {}) {
  const why = whyNoPostgres();
  if (why) return { title, skipped: why };
  const { PgStore } = await dist('coordinator/pg-store.js');
  const { SqliteStore } = await dist('coordinator/sqlite-store.js');
  const { createToken } = await dist('coordinator/tokens.js');
  const postgres = (await import('postgres')).default;
  const baseDist = (path) => import(pathToFileURL(join(BASE, 'dist', 'src', path)).href);
  const base = BASE
    ? {
        PgStore: (await baseDist('coordinator/pg-store.js')).PgStore,
        SqliteStore: (await baseDist('coordinator/sqlite-store.js')).SqliteStore,
        createToken: (await baseDist('coordinator/tokens.js')).createToken,
      }
    : null;
  const cluster = startPostgres();
  /** A copy of a seeded database for the other build: the SQLite file, or a PostgreSQL database made from it. */
  const copyDatabase = async (site, db, name) => {
    if (site === 'SQLite') {
      copyFileSync(db, `${db}.${name}`);
      return `${db}.${name}`;
    }
    const admin = postgres(cluster.url.replace(/\/postgres\?host=([^&]+)/, '/template1'), {
      host: decodeURIComponent(/\?host=([^&]+)/.exec(cluster.url)[1]),
      max: 1,
      onnotice: () => {},
    });
    try {
      await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE postgres`);
    } finally {
      await admin.end();
    }
    return db.replace('/postgres?', `/${name}?`);
  };
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-bench-pg-fleet-'));
  const notes = [];
  const rows = [];
  const samples = {};
  const measureIngest = async (agents, schema) => {
    // Ingest through two coordinators.
    const ingestUrl = `${cluster.url}&search_path=${schema}`;
    const store = await PgStore.open(ingestUrl);
    const { tokens, batch } = await ingestFixtures(store, createToken, agents);
    const coordinators = [await startCoordinator(ingestUrl), await startCoordinator(ingestUrl)];
    const urls = coordinators.map((one) => one.url);
    const runs = [];
    const bare = [];
    const batched = [];
    try {
      // Every agent's first report writes its cells (a steady agent's later ones do not): the warm-up covers them all.
      const warmup = agents === INGEST_AGENTS ? WARMUP_REPORTS : REFERENCE_WARMUP;
      await deliver(urls, batch(Math.max(warmup, agents)), tokens, IN_FLIGHT_EACH);
      for (let rep = 0; rep < reps; rep++) {
        const bodies = batch(INGEST_REPORTS);
        const sides = [
          async () => {
            const cpu = () => {
              const pg = new Map(cluster.pids().map((pid) => [pid, processCpuMs(pid)]));
              return { coordinators: coordinators.map((one) => one.cpuMs()), pg };
            };
            const before = cpu();
            const run = await deliver(urls, bodies, tokens, IN_FLIGHT_EACH);
            const after = cpu();
            run.coordinatorCpuMs = after.coordinators.reduce((sum, ms, i) => sum + ms - before.coordinators[i], 0);
            run.pgCpuMs = [...after.pg].reduce((sum, [pid, ms]) => sum + ms - (before.pg.get(pid) ?? 0), 0);
            run.load = loadavg()[0];
            runs.push(run);
          },
          async () => bare.push(await bareLoop(postgres, cluster, `bare${schema}${rep}`, bodies, 1)),
          async () => batched.push(await bareLoop(postgres, cluster, `batched${schema}${rep}`, bodies, 32)),
        ];
        for (let k = 0; k < sides.length; k++) await sides[(rep + k) % sides.length]();
      }
    } finally {
      await Promise.all(coordinators.map((one) => one.stop()));
    }
    const rate = median(runs.map((r) => r.rate));
    const wrong = runs.flatMap((r) => r.wrong);
    const perReport = (list, pick) => Math.round(median(list.map((r) => (pick(r) * 1000) / INGEST_REPORTS)));
    if (agents !== INGEST_AGENTS) {
      rows.push(
        row(
          `ingest, ${agents} agents (every batch locks the same agent rows; reference), two coordinators (peer: bare loop)`,
          'reports/s',
          Math.round(rate),
          Math.round(median(bare.map((r) => r.rate))),
        ),
        row(
          `ingest CPU per report, ${agents} agents, both coordinators (reference)`,
          'µs',
          perReport(runs, (r) => r.coordinatorCpuMs),
        ),
        row(
          `ingest CPU per report, ${agents} agents, PostgreSQL (reference)`,
          'µs',
          perReport(runs, (r) => r.pgCpuMs),
        ),
      );
      samples[`${agents} agents: two coordinators reports/s (load ${runs.map((r) => r.load.toFixed(1)).join(', ')})`] =
        runs.map((r) => r.rate);
      if (wrong.length) notes.push(`Ingest answers other than 201 (${agents} agents): ${wrong.join('; ')}.`);
      return;
    }
    rows.push(
      row(
        `ingest, ${agents} agents, two coordinators, ${2 * IN_FLIGHT_EACH} in flight (peer: bare loop, one transaction per report)`,
        'reports/s',
        Math.round(rate),
        Math.round(median(bare.map((r) => r.rate))),
        `>= ${RATE_GOAL} reports/s and >= ${RATIO_GOAL} of the bare loop`,
        !wrong.length && rate >= RATE_GOAL && rate / median(bare.map((r) => r.rate)) >= RATIO_GOAL,
      ),
      row(
        'ingest (peer: bare loop, 32 reports per transaction; reference)',
        'reports/s',
        Math.round(rate),
        Math.round(median(batched.map((r) => r.rate))),
      ),
      row(
        'ingest CPU per report, both coordinators (reference)',
        'µs',
        perReport(runs, (r) => r.coordinatorCpuMs),
      ),
      row(
        'ingest CPU per report, the load generator (this process; reference)',
        'µs',
        perReport(runs, (r) => r.generatorCpuMs),
      ),
      row(
        'ingest CPU per report, PostgreSQL (reference)',
        'µs',
        perReport(runs, (r) => r.pgCpuMs),
      ),
      row(
        'bare loop (one transaction per report) CPU per report, PostgreSQL (reference)',
        'µs',
        perReport(bare, (r) => r.pgCpuMs),
      ),
      row('ingest latency p50 (reference)', 'ms', median(runs.map((r) => r.p50))),
      row('ingest latency p99 (reference)', 'ms', median(runs.map((r) => r.p99))),
    );
    samples[`two coordinators reports/s (load ${runs.map((r) => r.load.toFixed(1)).join(', ')})`] = runs.map(
      (r) => r.rate,
    );
    samples['bare loop reports/s'] = bare.map((r) => r.rate);
    samples['bare loop, 32 per transaction, reports/s'] = batched.map((r) => r.rate);
    if (wrong.length) notes.push(`Ingest answers other than 201: ${wrong.join('; ')}.`);
  };
  try {
    const setup = postgres(cluster.url.replace(/\?host=([^&]+)/, ''), {
      host: decodeURIComponent(/\?host=([^&]+)/.exec(cluster.url)[1]),
      max: 1,
      onnotice: () => {},
    });
    await setup
      .unsafe('CREATE SCHEMA ingest; CREATE SCHEMA ingest_ref; CREATE SCHEMA m5k; CREATE SCHEMA m50k')
      .simple();
    await setup.end();
    if (process.env.REACHGATE_BENCH_MATRIX_ONLY === '1') notes.push('Ingest not run (REACHGATE_BENCH_MATRIX_ONLY=1).');
    else {
      await measureIngest(INGEST_AGENTS, 'ingest');
      await measureIngest(REFERENCE_AGENTS, 'ingest_ref');
    }
    // The matrix at 5,000 agents on both stores, and at 50,000 on PostgreSQL when asked.
    const sizes =
      process.env.REACHGATE_BENCH_INGEST_ONLY === '1'
        ? []
        : [
            ['SQLite', SMALL, join(dir, 'm5k.db')],
            ['PostgreSQL', SMALL, `${cluster.url}&search_path=m5k`],
            ...(process.env.REACHGATE_BENCH_50K === '1'
              ? [['PostgreSQL', 50_000, `${cluster.url}&search_path=m50k`]]
              : []),
          ];
    for (const [index, [site, agents, db]] of sizes.entries()) {
      // Compared with an earlier build: seeded by its store (its schema), which the newer build migrates.
      const seeder = BASE ? base : { PgStore, SqliteStore, createToken };
      const opened = site === 'SQLite' ? seeder.SqliteStore.open(db) : await seeder.PgStore.open(db);
      const viewer = (await seeder.createToken(opened, { kind: 'viewer' })).token;
      const tokens = await seededTokens(opened, seeder.createToken, 20);
      const seedStart = performance.now();
      await seed(opened, agents);
      const seedS = (performance.now() - seedStart) / 1000;
      await opened.close();
      const sides = BASE
        ? [
            ['base: ', join(BASE, 'bin', 'reachgate'), await copyDatabase(site, db, `base${index}`)],
            ['this: ', REACHGATE, db],
          ]
        : [['', REACHGATE, db]];
      if (index % 2 === 1) sides.reverse();
      for (const [label, reachgate, sideDb] of sides) {
        const kind = `${label}${site}`;
        const loadBefore = loadavg()[0];
        const m = await measureMatrix(sideDb, viewer, agents, reps, tokens, reachgate);
        const restart = await measureRestart(sideDb, viewer, reachgate);
        const load = `load ${loadBefore.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`;
        const p50 = median(m.matrix);
        const metricsP50 = median(m.metrics);
        const ingestP99 = percentile(m.underReads.latencies, 0.99);
        rows.push(
          row(
            `${kind}: GET /api/v1/matrix p50, ${agents} agents x ${ROWS} rows`,
            'ms',
            p50,
            null,
            `<= ${MATRIX_GOAL_MS} ms`,
            m.ok && p50 <= MATRIX_GOAL_MS,
          ),
          row(
            `${kind}: coordinator peak RSS (VmHWM), ${agents} agents`,
            'MiB',
            m.memory.hwmMiB,
            null,
            `<= ${RSS_GOAL_MIB} MiB`,
            m.memory.hwmMiB <= RSS_GOAL_MIB,
          ),
          row(
            `${kind}: GET /metrics p50, ${agents} agents`,
            'ms',
            metricsP50,
            null,
            agents >= 50_000 ? '<= 1000 ms' : null,
            agents >= 50_000 ? metricsP50 <= 1000 : null,
          ),
          row(
            `${kind}: HTML page, first view after start, ${agents} agents`,
            'ms',
            m.page[0],
            null,
            agents >= 50_000 ? '<= 1000 ms' : null,
            agents >= 50_000 ? m.page[0] <= 1000 : null,
          ),
          row(`${kind}: HTML page, later views p50, ${agents} agents (reference)`, 'ms', median(m.page.slice(1))),
          row(
            `${kind}: HTML page, first view after a restart (the last count kept, reports since), ${agents} agents`,
            'ms',
            restart.page,
            null,
            agents >= 50_000 ? '<= 1000 ms' : null,
            agents >= 50_000 ? restart.page <= 1000 : null,
          ),
          row(`${kind}: GET /api/v1/matrix, first after a restart, ${agents} agents (reference)`, 'ms', restart.matrix),
          row(
            `${kind}: ingest p99 while page, matrix and metrics are read in a loop, ${agents} agents`,
            'ms',
            ingestP99,
            null,
            '<= 100 ms',
            !m.underReads.wrong.length && ingestP99 <= 100,
          ),
          row(`${kind}: ingest p50 while read (reference)`, 'ms', percentile(m.underReads.latencies, 0.5)),
          row(
            `${kind}: ingest p99 (p50 in the notes) of the process's first ${WHILE_READ_REPORTS} reports, no reads (reference)`,
            'ms',
            percentile(m.alone.latencies, 0.99),
          ),
          ...(m.allMs === null
            ? []
            : [row(`${kind}: every cell, 10,000 per request, ${agents} agents (reference)`, 'ms', m.allMs)]),
        );
        samples[`${kind} ${agents}: GET /api/v1/matrix ms (${load})`] = m.matrix;
        samples[`${kind} ${agents}: GET /metrics ms`] = m.metrics;
        samples[`${kind} ${agents}: GET / ms (first after start, then later)`] = m.page;
        for (const [path, ms] of Object.entries(m.underReads.reads))
          samples[`${kind} ${agents}: ${path} while ingesting, ms`] = ms.map((value) => Math.round(value));
        notes.push(
          `${kind}, ${agents} agents: the first ${WHILE_READ_REPORTS} reports, no reads: p50 ` +
            `${percentile(m.alone.latencies, 0.5).toFixed(1)} ms, p99 ${percentile(m.alone.latencies, 0.99).toFixed(1)} ms` +
            `${m.alone.wrong.length ? ` (answered ${m.alone.wrong.join(', ')})` : ''}.`,
        );
        if (m.underReads.wrong.length)
          notes.push(`${kind} ${agents}: ingest while read answered ${m.underReads.wrong.join(', ')}.`);
        notes.push(
          `${kind}, ${agents} agents: seeded in ${seedS.toFixed(0)} s; matrix page ${(m.matrix.bytes / 1e3).toFixed(0)} kB; ` +
            `summary ${JSON.stringify(m.summary)}; ${m.cells} cells paged${m.ok ? '' : ' (WRONG COUNTS)'}; ` +
            `RSS after start ${m.afterStart.rssMiB.toFixed(0)} MiB; after a restart the summary was ` +
            `${restart.current ? 'current' : `as of ${restart.asOf}`}.`,
        );
      }
    }
    if (process.env.REACHGATE_BENCH_50K !== '1') notes.push('50,000 agents not run (set REACHGATE_BENCH_50K=1).');
    return {
      title,
      setup:
        'PostgreSQL 15 started by the benchmark (initdb into a temp dir as nobody, Unix socket, fsync on, ' +
        'shared_buffers 128MB); coordinator processes on 127.0.0.1; ingest alternates with the bare loops, medians.',
      commands: {
        reachgate: 'node bin/reachgate coordinator --db postgres://... --listen 127.0.0.1:0 (two of them)',
        peer: 'postgres.js, one connection: INSERT of the same report rows, same schema, one transaction per report',
      },
      peer: 'bare postgres.js loop',
      rows,
      samples,
      notes,
    };
  } finally {
    cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
