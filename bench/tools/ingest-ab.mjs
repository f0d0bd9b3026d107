// CPU per ingested report of two (or more) builds, side by side on one PostgreSQL cluster: each round starts two
// coordinators of one build, posts 40-result reports of 50 agents to both alternately (bench/lib/http-load.mjs),
// and reads the user and system CPU of the coordinators, of every PostgreSQL process and of this process (the
// load generator); the builds take turns, round after round, so that they share the machine's load.
//
//   node bench/tools/ingest-ab.mjs [--reports N] [--rounds N] [--in-flight N] [--warmup N] [--agents N] [--statements] BUILD_DIR[:NODE_OPTIONS]...
//
// --agents (default 50): how many agents the reports cycle through. 50 agents posting 2,000 reports/s are a load test:
// every batch of both coordinators locks the same few agent rows; a fleet that sends 2,000 reports/s has thousands.
// Each run is preceded by --warmup reports (default 40,000, or one per agent if more) to the same two coordinators: V8
// optimizes the ingest path's functions as they turn hot, the last of them after ~15,000 requests per coordinator
// (bench/pg-fleet.mjs, WARMUP_REPORTS), which a long-running coordinator pays once. A short --warmup compares how
// builds start instead.
// --statements loads pg_stat_statements and prints each run's statements by total time and calls.
// A BUILD_DIR holds bin/reachgate (a worktree, or a copy of bin/ bundle/ dist/ with node_modules linked); node
// options after a colon are given to its coordinators (e.g. `/tmp/base:--max-semi-space-size=32`).
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT } from '../lib/measure.mjs';
import { startPostgres, whyNoPostgres } from '../lib/postgres.mjs';
import { deliver, ingestFixtures, processCpu, startCoordinator } from '../ingest.mjs';

const { values, positionals: builds } = parseArgs({
  allowPositionals: true,
  options: {
    reports: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '2' },
    'in-flight': { type: 'string', default: '64' },
    warmup: { type: 'string' },
    agents: { type: 'string', default: '50' },
    statements: { type: 'boolean', default: false },
  },
});
const REPORTS = Number(values.reports);
const ROUNDS = Number(values.rounds);
const IN_FLIGHT = Number(values['in-flight']);
const AGENTS = Number(values.agents);
// Every agent's first report writes its cells (a steady agent's later reports do not): the warm-up covers them all.
const WARMUP = Number(values.warmup ?? Math.max(40000, AGENTS));
if (builds.length === 0 || ![REPORTS, ROUNDS, IN_FLIGHT, AGENTS].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write(
    'usage: node bench/tools/ingest-ab.mjs [--reports N] [--rounds N] [--in-flight N] [--agents N] BUILD_DIR[:NODE_OPTIONS]...\n',
  );
  process.exit(2);
}
const why = whyNoPostgres();
if (why) {
  process.stderr.write(`ingest-ab: ${why}\n`);
  process.exit(1);
}
const dist = (path) => import(pathToFileURL(join(ROOT, 'dist', 'src', path)).href);
const { PgStore } = await dist('coordinator/pg-store.js');
const { createToken } = await dist('coordinator/tokens.js');

const sum = (list, pick) => list.reduce((total, item) => total + pick(item), 0);
if (values.statements)
  process.env.REACHGATE_BENCH_PG_OPTIONS = `${process.env.REACHGATE_BENCH_PG_OPTIONS ?? ''} -c shared_preload_libraries=pg_stat_statements`;
const cluster = startPostgres();
try {
  // One schema per build (each build migrates its own), tokens made once.
  const admin = await PgStore.open(cluster.url);
  if (values.statements) await admin.query('CREATE EXTENSION pg_stat_statements');
  const sides = [];
  for (const [index, build] of builds.entries()) {
    const schema = `ab${index}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    const url = `${cluster.url}&search_path=${schema}`;
    const store = await PgStore.open(url);
    const fixtures = await ingestFixtures(store, createToken, AGENTS);
    const [dir, ...node] = build.split(':');
    sides.push({ name: build, build: resolve(dir), node: node.join(':').split(' ').filter(Boolean), url, ...fixtures });
  }
  process.stdout.write(
    'build\tround\tload\treports/s\tp50/p99 ms\tcoord user/sys µs\tpg user/sys µs\tgenerator µs\ttotal µs\n',
  );
  for (let round = 1; round <= ROUNDS; round++) {
    for (const side of round % 2 ? sides : [...sides].reverse()) {
      const reachgate = join(side.build, 'bin', 'reachgate');
      const coordinators = [
        await startCoordinator(side.url, reachgate, side.node),
        await startCoordinator(side.url, reachgate, side.node),
      ];
      const urls = coordinators.map((one) => one.url);
      try {
        // With REACHGATE_BENCH_STDOUT (the coordinators' stdout, e.g. under --trace-opt), a line per 2,000 warm-up
        // reports and around the measured run says where in the run each traced event came.
        const mark = (what) =>
          process.env.REACHGATE_BENCH_STDOUT && appendFileSync(process.env.REACHGATE_BENCH_STDOUT, `=== ${what}\n`);
        for (let done = 0; done < WARMUP; done += 2000) {
          mark(`warm-up ${done}`);
          await deliver(urls, side.batch(Math.min(2000, WARMUP - done)), side.tokens, IN_FLIGHT / 2);
        }
        const bodies = side.batch(REPORTS);
        mark('measured run');
        if (values.statements) await admin.query('SELECT pg_stat_statements_reset()');
        const pgBefore = new Map(cluster.pids().map((pid) => [pid, processCpu(pid)]));
        const before = coordinators.map((one) => one.cpu());
        const run = await deliver(urls, bodies, side.tokens, IN_FLIGHT / 2);
        const after = coordinators.map((one) => one.cpu());
        mark('end');
        const statements = values.statements
          ? await admin.query(
              `SELECT calls, round(total_exec_time::numeric, 0) AS ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query
               FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12`,
            )
          : [];
        const pg = cluster.pids().map((pid) => {
          const now = processCpu(pid);
          const then = pgBefore.get(pid) ?? { user: 0, system: 0 };
          return { user: now.user - then.user, system: now.system - then.system };
        });
        const per = (ms) => Math.round((ms * 1000) / REPORTS);
        const coordUser = per(sum(after, (cpu) => cpu.user) - sum(before, (cpu) => cpu.user));
        const coordSys = per(sum(after, (cpu) => cpu.system) - sum(before, (cpu) => cpu.system));
        const pgUser = per(sum(pg, (cpu) => cpu.user));
        const pgSys = per(sum(pg, (cpu) => cpu.system));
        const generator = per(run.generatorCpuMs);
        const wrong = run.wrong.length ? `\t(not 201: ${run.wrong.join('; ')})` : '';
        process.stdout.write(
          `${side.name}\t${round}\t${loadavg()[0].toFixed(1)}\t${Math.round(run.rate)}\t` +
            `${Math.round(run.p50)}/${Math.round(run.p99)}\t${coordUser}/${coordSys}\t` +
            `${pgUser}/${pgSys}\t${generator}\t${coordUser + coordSys + pgUser + pgSys + generator}${wrong}\n`,
        );
        for (const row of statements)
          process.stdout.write(
            `\t${String(row.ms).padStart(6)} ms ${String(row.calls).padStart(6)} calls  ${row.query}\n`,
          );
      } finally {
        await Promise.all(coordinators.map((one) => one.stop()));
      }
    }
  }
  await admin.close();
} finally {
  cluster.stop();
}
