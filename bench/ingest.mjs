// Benchmark: the coordinator on loopback (127.0.0.1, port chosen by the kernel).
//
// Ingest: 50 simulated agents post RunReports of 40 results (about 14 KB each), 32 requests in
// flight over keep-alive connections; reports/s and per-request latency. Beside it, in the same
// run and alternating, a bare better-sqlite3 loop inserts the same rows into the same schema with
// the same pragmas (WAL, synchronous=FULL), one transaction per report: the local limit of the
// disk for reports acknowledged one by one. A second bare loop with 32 rows per transaction is
// the ceiling of group commit (reference).
//
// Matrix: a database seeded through the store with 5,000 agents x 40 rows (one 40-result report
// each), then GET /api/v1/matrix with a viewer token, and the coordinator's RSS (VmRSS/VmHWM).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { encodePost, sendAll } from './lib/http-load.mjs';
import { REACHGATE, ROOT, median } from './lib/measure.mjs';

export const title = 'Coordinator: ingest of 40-result reports over loopback, and the matrix of 5,000 agents x 40 rows';

const INGEST_AGENTS = 50;
const INGEST_REPORTS = 2000;
const WARMUP_REPORTS = 300;
const IN_FLIGHT = 32;
const MATRIX_AGENTS = 5000;
const ROWS = 40;
const RATE_GOAL = 1000;
const RATIO_GOAL = 0.5;
const MATRIX_GOAL_MS = 300;
const RSS_GOAL_MIB = 300;
const REQUEST_TIMEOUT_MS = 120_000;
/** Coordinator options that lift the per-token rate and per-agent byte limits. */
const UNLIMITED = ['--rate-limit', '100000', '--rate-burst', '1000000', '--agent-bytes-per-day', String(2 ** 40)];

const dist = (path) => import(pathToFileURL(join(ROOT, 'dist', 'src', path)).href);

/** A RunReport of 40 results, one per row, as its JSON text. */
export function reportJson(id, agent, role) {
  const now = new Date().toISOString();
  const results = Array.from({ length: ROWS }, (_, k) => {
    const blocked = k % 3 === 0;
    return {
      id: `row-${k}/${5900 + k}`,
      row: `row-${k}`,
      kind: 'tcp',
      target: { host: 'tightgate', address: `198.51.100.${k + 1}`, port: 5900 + k, protocol: 'tcp' },
      expect: blocked ? 'blocked' : 'reachable',
      state: blocked ? 'filtered' : 'open',
      verdict: 'pass',
      reason: blocked ? 'no answer within 1 s (1 attempt): silently dropped' : 'connected in 0.4 ms',
      ...(blocked ? { control: 'tightgate' } : { rtt_ms: 0.4 }),
      attempts: 1,
      started_at: now,
      evidence: { banner: 'RFB 003.008' },
    };
  });
  return JSON.stringify({
    id,
    agent,
    role,
    site: 'bench',
    profile: { name: `tightgate/${role}`, hash: 'ab'.repeat(32) },
    version: '0.1.0',
    started_at: now,
    finished_at: now,
    interval_s: 300,
    results,
    summary: { pass: ROWS, fail: 0, inconclusive: 0, error: 0 },
  });
}

/** Agent tokens ws-0… made in `store` (closed after), and `batch(count)`: reports cycling through those agents. */
export async function ingestFixtures(store, createToken, agents) {
  const tokens = {};
  for (let i = 0; i < agents; i++)
    tokens[`ws-${i}`] = (await createToken(store, { kind: 'agent', agent: `ws-${i}`, role: 'workstation' })).token;
  await store.close();
  let serial = 0;
  const batch = (count) =>
    Array.from({ length: count }, () => {
      const agent = `ws-${serial % agents}`;
      const id = `bench-${++serial}`;
      const body = reportJson(id, agent, 'workstation');
      return { id, agent, agentName: agent, body };
    });
  return { tokens, batch };
}

/** Extra node options for coordinator processes, e.g. REACHGATE_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'. */
function nodeArgs() {
  return (process.env.REACHGATE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/** Start `reachgate coordinator` (by default the build under test) on 127.0.0.1:0; resolves with its URL, pid and a stop function. */
export async function startCoordinator(db, reachgate = REACHGATE) {
  // Fifty agents posting as fast as they can are a load test, not a fleet: the per-token limits are lifted.
  const child = spawn(
    process.execPath,
    [...nodeArgs(), reachgate, 'coordinator', '--db', db, '--listen', '127.0.0.1:0', ...UNLIMITED],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let seen = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the coordinator did not listen within 30 s: ${seen.slice(-500)}`));
    }, 30_000);
    // Keep reading stderr (the access log) for the whole run, so that the pipe never fills.
    child.stderr.on('data', (chunk) => {
      if (seen.length < 100_000) seen += chunk.toString();
      const match = /"msg":"coordinator listening at (\S+?)"/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the coordinator exited (${code}): ${seen.slice(-500)}`));
    });
  });
  const memory = () => {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const kib = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
  };
  const stop = async () => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  };
  return { url, memory, cpuMs: () => processCpuMs(child.pid), stop };
}

/** User + system CPU of a process so far (ms), from /proc/PID/stat; 0 once it is gone. */
export function processCpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    // After the command name: utime and stime are fields 14 and 15 of the line (12 and 13 here), in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * Post `bodies` with `inFlight` requests at a time to each of `urls` (one URL or several); every answer must be
 * 201. The load generator is lean (bench/lib/http-load.mjs: keep-alive connections, every request encoded
 * before the clock starts, answers read as far as their status and length) and its own CPU is measured
 * (`generatorCpuMs`: this process's user + system time while it sends), to be told apart from the coordinators'.
 */
export async function deliver(urls, bodies, tokens, inFlight = IN_FLIGHT) {
  const latencies = [];
  const wrong = [];
  const requests = bodies.map(({ body, bytes, agent }) =>
    encodePost(
      '/api/v1/reports',
      { authorization: `Bearer ${tokens[agent]}`, 'content-type': 'application/json' },
      bytes ?? body,
    ),
  );
  const cpu = process.cpuUsage();
  const started = performance.now();
  await sendAll([urls].flat(), requests, inFlight, (_index, status, body, ms) => {
    latencies.push(ms);
    if (status !== 201 && wrong.length < 3) wrong.push(`${status} ${body.toString().slice(0, 120)}`);
  });
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  return {
    rate: bodies.length / (wallMs / 1000),
    p50: latencies[Math.floor(latencies.length * 0.5)],
    p99: latencies[Math.floor(latencies.length * 0.99)],
    generatorCpuMs: (used.user + used.system) / 1000,
    wrong,
  };
}

/** The same rows through bare better-sqlite3: a fresh file with the store's schema, `perTransaction` rows per commit. */
function bareLoop(dir, name, SqliteStore, bodies, perTransaction) {
  const file = join(dir, `${name}.db`);
  return SqliteStore.open(file)
    .close()
    .then(() => {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      const insert = db.prepare(
        'INSERT INTO reports (id, agent, role, site, received_at, json) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      );
      const commit = db.transaction((rows) => {
        for (const { id, agentName, body } of rows)
          insert.run(id, agentName, 'workstation', 'bench', new Date().toISOString(), body);
      });
      const started = performance.now();
      for (let i = 0; i < bodies.length; i += perTransaction) commit(bodies.slice(i, i + perTransaction));
      const wallMs = performance.now() - started;
      db.close();
      rmSync(file, { force: true });
      return { rate: bodies.length / (wallMs / 1000) };
    });
}

function throughputRow(metric, reachgate, peer, goal, met) {
  const round = (value) => (Number.isFinite(value) ? Math.round(value) : value);
  return {
    metric,
    unit: 'reports/s',
    reachgate: round(reachgate),
    peer: round(peer),
    ratio: peer ? reachgate / peer : null,
    goal,
    met,
  };
}

function plainRow(metric, unit, reachgate, goal = null, met = null) {
  return { metric, unit, reachgate, peer: null, ratio: null, goal, met };
}

export default async function ingest({ reps = 3 } = {}) {
  const { SqliteStore } = await dist('coordinator/sqlite-store.js');
  const { createToken } = await dist('coordinator/tokens.js');
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-bench-ingest-'));
  try {
    // Ingest.
    const db = join(dir, 'ingest.db');
    const store = SqliteStore.open(db);
    const { tokens, batch } = await ingestFixtures(store, createToken, INGEST_AGENTS);
    const coordinator = await startCoordinator(db);
    const coordinatorRuns = [];
    const bareRuns = [];
    const batchedRuns = [];
    let ingestMemory;
    try {
      await deliver(coordinator.url, batch(WARMUP_REPORTS), tokens);
      for (let rep = 0; rep < reps; rep++) {
        const rows = batch(INGEST_REPORTS);
        // Alternate which side goes first, as run.mjs's rotate() does.
        const sides = [
          async () => coordinatorRuns.push(await deliver(coordinator.url, rows, tokens)),
          async () => bareRuns.push(await bareLoop(dir, `bare-${rep}`, SqliteStore, rows, 1)),
          async () => batchedRuns.push(await bareLoop(dir, `batched-${rep}`, SqliteStore, rows, 32)),
        ];
        for (let k = 0; k < sides.length; k++) await sides[(rep + k) % sides.length]();
      }
      ingestMemory = coordinator.memory();
    } finally {
      await coordinator.stop();
    }

    // Matrix: seed through the store, as if 5,000 agents had reported once each.
    const matrixDb = join(dir, 'matrix.db');
    const seed = SqliteStore.open(matrixDb);
    const viewer = (await createToken(seed, { kind: 'viewer' })).token;
    const roles = ['workstation', 'tightgate', 'monitoring', 'dmz'];
    for (let chunk = 0; chunk < MATRIX_AGENTS; chunk += 250) {
      await Promise.all(
        Array.from({ length: 250 }, (_, j) => {
          const i = chunk + j;
          const agent = `agent-${String(i).padStart(4, '0')}`;
          const text = reportJson(`seed-${i}`, agent, roles[i % roles.length]);
          return seed.addReport(JSON.parse(text), text, new Date());
        }),
      );
    }
    await seed.close();
    const matrixCoordinator = await startCoordinator(matrixDb);
    const matrixRuns = [];
    let afterStart;
    let matrixMemory;
    let metricsMs;
    try {
      afterStart = matrixCoordinator.memory();
      for (let rep = 0; rep < Math.max(reps, 3); rep++) {
        const t0 = performance.now();
        const response = await request(`${matrixCoordinator.url}/api/v1/matrix`, {
          headers: { authorization: `Bearer ${viewer}` },
          headersTimeout: REQUEST_TIMEOUT_MS,
          bodyTimeout: REQUEST_TIMEOUT_MS,
        });
        const text = await response.body.text();
        const wallMs = performance.now() - t0;
        const matrix = response.statusCode === 200 ? JSON.parse(text) : null;
        matrixRuns.push({
          wallMs,
          bytes: text.length,
          status: response.statusCode,
          agents: matrix?.summary.agents,
          cells: matrix?.summary.cells,
        });
      }
      matrixMemory = matrixCoordinator.memory();
      const t0 = performance.now();
      const metrics = await request(`${matrixCoordinator.url}/metrics`, {
        headers: { authorization: `Bearer ${viewer}` },
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
      await metrics.body.text();
      metricsMs = performance.now() - t0;
    } finally {
      await matrixCoordinator.stop();
    }

    const rate = median(coordinatorRuns.map((r) => r.rate));
    const bare = median(bareRuns.map((r) => r.rate));
    const batched = median(batchedRuns.map((r) => r.rate));
    const wrong = coordinatorRuns.flatMap((r) => r.wrong);
    const matrixMs = median(matrixRuns.map((r) => r.wallMs));
    const matrixWrong = matrixRuns.filter(
      (r) => r.status !== 200 || r.agents !== MATRIX_AGENTS || r.cells !== MATRIX_AGENTS * ROWS,
    );
    const rows = [
      throughputRow(
        `ingest, ${IN_FLIGHT} in flight (peer: bare loop, one transaction per report)`,
        rate,
        bare,
        `>= ${RATE_GOAL} reports/s and >= ${RATIO_GOAL} of the bare loop`,
        !wrong.length && rate >= RATE_GOAL && rate / bare >= RATIO_GOAL,
      ),
      throughputRow('ingest (peer: bare loop, 32 reports per transaction; reference)', rate, batched, null, null),
      plainRow('ingest latency p50 (reference)', 'ms', median(coordinatorRuns.map((r) => r.p50))),
      plainRow('ingest latency p99 (reference)', 'ms', median(coordinatorRuns.map((r) => r.p99))),
      plainRow(
        `GET /api/v1/matrix, ${MATRIX_AGENTS} agents x ${ROWS} rows`,
        'ms',
        matrixMs,
        `<= ${MATRIX_GOAL_MS} ms`,
        !matrixWrong.length && matrixMs <= MATRIX_GOAL_MS,
      ),
      plainRow(
        `coordinator peak RSS (VmHWM) at ${MATRIX_AGENTS} agents, after the matrix requests`,
        'MiB',
        matrixMemory.hwmMiB,
        `<= ${RSS_GOAL_MIB} MiB`,
        matrixMemory.hwmMiB <= RSS_GOAL_MIB,
      ),
      plainRow(`coordinator RSS at ${MATRIX_AGENTS} agents right after start-up (reference)`, 'MiB', afterStart.rssMiB),
      plainRow(`GET /metrics at ${MATRIX_AGENTS} agents (reference)`, 'ms', metricsMs),
    ];
    const notes = [
      `Ingest: ${reps} runs of ${INGEST_REPORTS} reports (${(reportJson('size', 'ws-0', 'workstation').length / 1024).toFixed(1)} ` +
        `KiB each) from ${INGEST_AGENTS} agents after ${WARMUP_REPORTS} warm-up reports; the load ` +
        `generator (bench/lib/http-load.mjs, ${IN_FLIGHT} keep-alive connections) runs in the benchmark process on the ` +
        `same machine. The coordinator logs at its default level (info: one JSON line per request).`,
      `The coordinator acknowledges a report only after its transaction is committed with synchronous=FULL ` +
        `(fsynced); reports that arrive while one commits go into the next transaction (group commit). ` +
        `The bare loops use the same schema and pragmas.`,
      `Coordinator runs (reports/s, p99 ms): ${coordinatorRuns.map((r) => `${Math.round(r.rate)}/${Math.round(r.p99)}`).join(', ')}; ` +
        `bare one-per-transaction: ${bareRuns.map((r) => Math.round(r.rate)).join(', ')}; bare ` +
        `32-per-transaction: ${batchedRuns.map((r) => Math.round(r.rate)).join(', ')}.`,
      `Coordinator peak RSS during ingest: ${ingestMemory.hwmMiB.toFixed(1)} MiB.`,
      `Matrix: ${matrixRuns.length} requests, ${(matrixRuns[0].bytes / 1e6).toFixed(1)} MB of JSON ` +
        `each (the first page: 1,000 cells of ${MATRIX_AGENTS * ROWS}, without results, and the whole summary); times ` +
        `${matrixRuns.map((r) => Math.round(r.wallMs)).join(', ')} ms (request to last byte read).`,
    ];
    if (wrong.length) notes.push(`Ingest answers other than 201: ${wrong.join('; ')}.`);
    if (matrixWrong.length)
      notes.push(
        `Matrix answers that were wrong: ${matrixWrong.map((r) => `${r.status} (${r.agents} agents, ${r.cells} cells)`).join('; ')}.`,
      );
    return {
      title,
      setup:
        `A coordinator process on 127.0.0.1 (port from the kernel) with a fresh SQLite file in a temp ` +
        `dir; agent and viewer tokens made through the store. Ingest alternates with the bare loops, ${reps} times each; medians.`,
      commands: {
        reachgate: 'node bin/reachgate coordinator --db DB --listen 127.0.0.1:0',
        peer: 'better-sqlite3: INSERT of the same rows, same schema, WAL, synchronous=FULL',
      },
      peer: 'bare better-sqlite3',
      rows,
      samples: {
        'coordinator reports/s': coordinatorRuns.map((r) => r.rate),
        'bare loop reports/s': bareRuns.map((r) => r.rate),
        'bare loop, 32 per transaction, reports/s': batchedRuns.map((r) => r.rate),
        'GET /api/v1/matrix ms': matrixRuns.map((r) => r.wallMs),
      },
      notes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
