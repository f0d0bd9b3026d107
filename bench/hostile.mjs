// Benchmark: one hostile agent token against the coordinator on loopback (127.0.0.1), while 20
// other agents ingest and a viewer loads the HTML page; the coordinator runs with its default limits.
//
// The attacks of issue 10, each for a fixed time beside the same steady load:
// - quiet: no attacker (the peer: what the other agents see without one);
// - row: reports whose `row` is 200 KB of `<`, 4 in flight (before the bounds: stored, page 9 s);
// - flood: valid reports of ~1 MiB each, 4 in flight (before the limits: ~38 MiB/s stored).
// Other agents post 40-result reports (~13 KiB) at 20 a second in all (one a second per agent),
// paced, each timed from request to answer; the page is fetched every second and timed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Pool, request } from 'undici';
import { REACHGATE, ROOT, median } from './lib/measure.mjs';

export const title =
  "Coordinator under a hostile agent: other agents' ingest and the page during a 200 KB row and a 1 MiB flood";

const GOOD_AGENTS = 20;
const GOOD_PER_SECOND = 20;
const PHASE_MS = 6000;
/** The same steady load and page views, unmeasured, before the first phase: V8 compiles the hot paths once. */
const WARMUP_MS = 4000;
const PAGE_EVERY_MS = 1000;
const ATTACK_IN_FLIGHT = 4;
const ROWS = 40;
const P99_GOAL_MS = 100;
const PAGE_GOAL_MS = 1000;
const REQUEST_TIMEOUT_MS = 60_000;
/** USER_HZ: the unit of /proc/PID/stat's CPU times (100 on Linux everywhere in practice). */
const CLOCK_TICKS = 100;

const dist = (path) => import(pathToFileURL(join(ROOT, 'dist', 'src', path)).href);

/** A RunReport as JSON text: `results` results, each changed by `shape` (index, result). */
function reportJson(id, agent, { results = ROWS, shape = () => {} } = {}) {
  const now = new Date().toISOString();
  const list = Array.from({ length: results }, (_, k) => {
    const result = {
      id: `row-${k % ROWS}/${5900 + k}`,
      row: `row-${k % ROWS}`,
      kind: 'tcp',
      target: { host: 'tightgate', address: `198.51.100.${(k % 200) + 1}`, port: 5900 + k, protocol: 'tcp' },
      expect: 'reachable',
      state: 'open',
      verdict: 'pass',
      reason: 'connected in 0.4 ms',
      rtt_ms: 0.4,
      attempts: 1,
      started_at: now,
      evidence: { banner: 'RFB 003.008' },
    };
    shape(k, result);
    return result;
  });
  return JSON.stringify({
    id,
    agent,
    role: 'workstation',
    site: 'bench',
    profile: { name: 'tightgate/workstation', hash: 'ab'.repeat(32) },
    version: '0.1.0',
    started_at: now,
    finished_at: now,
    interval_s: 60,
    results: list,
    summary: { pass: results, fail: 0, inconclusive: 0, error: 0 },
  });
}

/** Start `reachgate coordinator` on 127.0.0.1:0 with its default limits. */
async function startCoordinator(db) {
  const child = spawn(process.execPath, [REACHGATE, 'coordinator', '--db', db, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let seen = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the coordinator did not listen within 30 s: ${seen.slice(-500)}`));
    }, 30_000);
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
  const hwmMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
  // utime + stime of /proc/PID/stat (fields 14 and 15, after the command name in parentheses), in ms.
  const cpuMs = () => {
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  };
  const stop = async () => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  };
  return { url, hwmMiB, cpuMs, stop };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** One POST; resolves with its status, latency and body size. */
async function post(pool, token, body) {
  const t0 = performance.now();
  const response = await pool.request({
    path: '/api/v1/reports',
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  await response.body.text();
  return { status: response.statusCode, ms: performance.now() - t0 };
}

/** One phase: the steady load and the page for `ms`, with `attack` (or nothing) beside them. */
async function phase({ url, cpuMs }, tokens, viewer, attack, ms = PHASE_MS) {
  const cpuBefore = cpuMs();
  const good = new Pool(url, { connections: 16 });
  const bad = new Pool(url, { connections: ATTACK_IN_FLIGHT });
  const ends = performance.now() + ms;
  let serial = 0;
  const ingest = [];
  const goodStatuses = {};
  const pending = [];
  // Paced: a report every 1000/GOOD_PER_SECOND ms, on time whatever the answers take.
  const pacer = (async () => {
    const start = performance.now();
    for (let k = 0; performance.now() < ends; k++) {
      const due = start + (k * 1000) / GOOD_PER_SECOND;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const agent = `ws-${k % GOOD_AGENTS}`;
      const body = reportJson(`good-${process.pid}-${++serial}-${Math.random()}`, agent);
      pending.push(
        post(good, tokens[agent], body).then(({ status, ms }) => {
          ingest.push(ms);
          goodStatuses[status] = (goodStatuses[status] ?? 0) + 1;
        }),
      );
    }
  })();
  const pages = [];
  const pageStatuses = {};
  const pager = (async () => {
    while (performance.now() < ends) {
      const t0 = performance.now();
      const response = await request(`${url}/`, {
        headers: { authorization: `Bearer ${viewer}` },
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
      await response.body.text();
      pages.push(performance.now() - t0);
      pageStatuses[response.statusCode] = (pageStatuses[response.statusCode] ?? 0) + 1;
      const wait = PAGE_EVERY_MS - (performance.now() - t0);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  const attackStatuses = {};
  let attackBytesStored = 0;
  let attackSent = 0;
  const attacker = attack
    ? Promise.all(
        Array.from({ length: ATTACK_IN_FLIGHT }, async () => {
          while (performance.now() < ends) {
            const body = attack.body();
            attackSent += 1;
            let status;
            try {
              ({ status } = await post(bad, attack.token, body));
            } catch (error) {
              // A refused connection closed while the body was being sent.
              status = error.code ?? 'error';
            }
            attackStatuses[status] = (attackStatuses[status] ?? 0) + 1;
            if (status === 201) attackBytesStored += Buffer.byteLength(body);
          }
        }),
      )
    : Promise.resolve();
  await Promise.all([pacer, pager, attacker]);
  await Promise.all(pending);
  await Promise.all([good.close(), bad.close()]);
  const cpu = cpuMs() - cpuBefore;
  ingest.sort((a, b) => a - b);
  pages.sort((a, b) => a - b);
  return {
    p50: percentile(ingest, 0.5),
    p99: percentile(ingest, 0.99),
    max: ingest.at(-1),
    goodStatuses,
    pageP50: percentile(pages, 0.5),
    pageMax: pages.at(-1),
    pageStatuses,
    attackStatuses,
    attackSent,
    attackMiB: attackBytesStored / 1024 / 1024,
    cpuShare: cpu / ms,
  };
}

export default async function hostile({ reps = 2 } = {}) {
  const { SqliteStore } = await dist('coordinator/sqlite-store.js');
  const { createToken } = await dist('coordinator/tokens.js');
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-bench-hostile-'));
  try {
    const db = join(dir, 'hostile.db');
    const store = SqliteStore.open(db);
    const tokens = {};
    for (let i = 0; i < GOOD_AGENTS; i++)
      tokens[`ws-${i}`] = (await createToken(store, { kind: 'agent', agent: `ws-${i}`, role: 'workstation' })).token;
    // A fresh attacker per attack and rep: each starts with a full burst and a full daily byte budget.
    const attackers = [];
    for (let i = 0; i < 2 * reps; i++)
      attackers.push((await createToken(store, { kind: 'agent', agent: `evil-${i}`, role: 'workstation' })).token);
    const viewer = (await createToken(store, { kind: 'viewer' })).token;
    await store.close();
    const coordinator = await startCoordinator(db);
    const runs = { quiet: [], row: [], flood: [] };
    let serial = 0;
    let hwm;
    const row200k = '<'.repeat(200_000);
    // 240 results with a 4,000-character reason each: ~1 MiB, within every bound.
    const floodShape = (k, result) => (result.reason = `${k} ${'r'.repeat(4000)}`);
    try {
      await phase(coordinator, tokens, viewer, null, WARMUP_MS);
      for (let rep = 0; rep < reps; rep++) {
        const rowAgent = `evil-${2 * rep}`;
        const floodAgent = `evil-${2 * rep + 1}`;
        const attacks = {
          quiet: null,
          row: {
            token: attackers[2 * rep],
            body: () =>
              reportJson(`row-${rep}-${++serial}`, rowAgent, { shape: (k, r) => k === 0 && (r.row = row200k) }),
          },
          flood: {
            token: attackers[2 * rep + 1],
            body: () => reportJson(`flood-${rep}-${++serial}`, floodAgent, { results: 240, shape: floodShape }),
          },
        };
        const order = Object.keys(attacks);
        for (let k = 0; k < order.length; k++) {
          const name = order[(rep + k) % order.length];
          runs[name].push(await phase(coordinator, tokens, viewer, attacks[name]));
        }
      }
    } finally {
      hwm = coordinator.hwmMiB();
      await coordinator.stop();
    }
    const dbMiB = statSync(db).size / 1024 / 1024;
    const med = (name, key) => median(runs[name].map((run) => run[key]));
    const quietP99 = med('quiet', 'p99');
    const quietPage = med('quiet', 'pageP50');
    const rows = [];
    for (const name of ['row', 'flood']) {
      const p99 = med(name, 'p99');
      const ok = runs[name].every((run) => Object.keys(run.goodStatuses).every((status) => status === '201'));
      rows.push({
        metric: `other agents' ingest p99 during the ${name === 'row' ? '200 KB row' : '1 MiB flood'} (peer: no attacker)`,
        unit: 'ms',
        reachgate: p99,
        peer: quietP99,
        ratio: p99 / quietP99,
        goal: `<= ${P99_GOAL_MS} ms, every answer 201`,
        met: ok && p99 <= P99_GOAL_MS,
      });
      const page = med(name, 'pageP50');
      const pagesOk = runs[name].every((run) => Object.keys(run.pageStatuses).every((status) => status === '200'));
      rows.push({
        metric: `GET / p50 during the ${name === 'row' ? '200 KB row' : '1 MiB flood'} (peer: no attacker)`,
        unit: 'ms',
        reachgate: page,
        peer: quietPage,
        ratio: page / quietPage,
        goal: `<= ${PAGE_GOAL_MS} ms, every answer 200`,
        met: pagesOk && page <= PAGE_GOAL_MS,
      });
    }
    rows.push({
      metric: `reports stored from the flooding token in ${PHASE_MS / 1000} s (an hour's share of its 64 MiB a day: 2.7 MiB)`,
      unit: 'MiB',
      reachgate: med('flood', 'attackMiB'),
      peer: null,
      ratio: null,
      goal: null,
      met: null,
    });
    const quietCpu = med('quiet', 'cpuShare');
    for (const name of ['row', 'flood']) {
      const share = med(name, 'cpuShare');
      rows.push({
        metric: `coordinator CPU during the ${name === 'row' ? '200 KB row' : '1 MiB flood'} (CPU s per s; peer: no attacker)`,
        unit: 'CPU s/s',
        reachgate: Number(share.toFixed(2)),
        peer: Number(quietCpu.toFixed(2)),
        ratio: share / quietCpu,
        goal: null,
        met: null,
      });
    }
    const describe = (run) =>
      `coordinator CPU ${run.cpuShare.toFixed(2)} s/s, ` +
      `other p50/p99/max ${[run.p50, run.p99, run.max].map((ms) => ms.toFixed(1)).join('/')} ms ` +
      `${JSON.stringify(run.goodStatuses)}, ` +
      `page p50/max ${run.pageP50.toFixed(0)}/${run.pageMax.toFixed(0)} ms ${JSON.stringify(run.pageStatuses)}` +
      (run.attackSent ? `, attacker sent ${run.attackSent}: ${JSON.stringify(run.attackStatuses)}` : '');
    return {
      title,
      setup:
        `A coordinator process on 127.0.0.1 with its default limits (2 requests/s per agent token, bursts of 60, ` +
        `64 MiB of reports per agent per day, an hour's share at once) and a fresh SQLite file; ${GOOD_AGENTS} agents post 40-result reports ` +
        `at ${GOOD_PER_SECOND}/s in all (paced, 16 connections), a viewer fetches GET / every ${PAGE_EVERY_MS} ms, ` +
        `and one attacker token sends ${ATTACK_IN_FLIGHT} requests at a time for ${PHASE_MS / 1000} s per phase. ` +
        `The same load without an attacker runs ${WARMUP_MS / 1000} s unmeasured first (the coordinator's JIT warm-up). ` +
        `Phases rotate, ${reps} runs each; medians.`,
      commands: {
        reachgate: 'node bin/reachgate coordinator --db DB --listen 127.0.0.1:0',
        peer: 'the same load without the attacker, in the same run',
      },
      peer: 'no attacker',
      rows,
      samples: {
        'quiet p99 ms': runs.quiet.map((r) => r.p99),
        'row p99 ms': runs.row.map((r) => r.p99),
        'flood p99 ms': runs.flood.map((r) => r.p99),
        'quiet page ms': runs.quiet.map((r) => r.pageP50),
        'row page ms': runs.row.map((r) => r.pageP50),
        'flood page ms': runs.flood.map((r) => r.pageP50),
      },
      notes: [
        ...Object.entries(runs).flatMap(([name, list]) =>
          list.map((run, i) => `${name} run ${i + 1}: ${describe(run)}.`),
        ),
        `Coordinator peak RSS (VmHWM) over the whole run: ${hwm.toFixed(1)} MiB; database file at the end: ${dbMiB.toFixed(1)} MiB.`,
        'Before these limits (issue 10): the 200 KB row was stored, made GET / take 9 s and held other agents for 7.7 s; ' +
          'the same token stored ~38 MiB/s of valid 1 MiB reports.',
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
