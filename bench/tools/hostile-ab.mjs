// bench/hostile.mjs for two (or more) builds side by side: the builds take turns, one whole run (every phase, one
// rep) each, round after round (ABAB...), so that they share the machine's load; prints each run's other-agents
// ingest p50/p99/max, page p50 and coordinator CPU per phase, then the medians per build.
//
//   node bench/tools/hostile-ab.mjs [--rounds N] BUILD_DIR...
//
// A BUILD_DIR holds bin/reachgate (a worktree, or a copy of bin/ bundle/ dist/ src/report/assets with node_modules
// linked); the load generator and the seeding store are this worktree's.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../lib/measure.mjs';

const { values, positionals: builds } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' } },
});
const ROUNDS = Number(values.rounds);
if (builds.length === 0 || !(Number.isInteger(ROUNDS) && ROUNDS > 0 && ROUNDS <= 20)) {
  process.stderr.write('usage: node bench/tools/hostile-ab.mjs [--rounds N] BUILD_DIR...\n');
  process.exit(2);
}
const PHASES = ['quiet', 'row', 'flood'];
const LINE =
  /^- (quiet|row|flood) run 1: coordinator CPU ([\d.]+) s\/s, other p50\/p99\/max ([\d.]+)\/([\d.]+)\/([\d.]+) ms (\S+), page p50\/max (\d+)\/(\d+) ms/;
const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const runs = builds.map(() => []);
const load = () => loadavg()[0].toFixed(2);
for (let round = 0; round < ROUNDS; round++) {
  for (const [index, build] of builds.entries()) {
    const before = load();
    const out = execFileSync(
      process.execPath,
      [join(ROOT, 'bench', 'run.mjs'), 'hostile', '--no-write', '--no-snapshot', '--reps', '1'],
      {
        env: { ...process.env, REACHGATE_BENCH_BUILD: resolve(build) },
        encoding: 'utf8',
        timeout: 300_000,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const run = { load: `${before}-${load()}` };
    for (const line of out.split('\n')) {
      const match = LINE.exec(line);
      if (!match) continue;
      const [, phase, cpu, p50, p99, max, statuses, pageP50] = match;
      run[phase] = {
        cpu: Number(cpu),
        p50: Number(p50),
        p99: Number(p99),
        max: Number(max),
        statuses,
        page: Number(pageP50),
      };
    }
    runs[index].push(run);
    const shown = PHASES.map((phase) => {
      const p = run[phase];
      return p
        ? `${phase} p50/p99/max ${p.p50}/${p.p99}/${p.max} ${p.statuses} page ${p.page} cpu ${p.cpu}`
        : `${phase} ?`;
    });
    process.stdout.write(`round ${round + 1} ${build} (load ${run.load}): ${shown.join('; ')}\n`);
  }
}
for (const [index, build] of builds.entries()) {
  const shown = PHASES.map((phase) => {
    const list = runs[index].map((run) => run[phase]).filter(Boolean);
    const of = (key) => median(list.map((p) => p[key]));
    return `${phase} p99 ${of('p99').toFixed(1)} (${list.map((p) => p.p99).join(', ')}) page ${of('page')} cpu ${of('cpu').toFixed(2)}`;
  });
  process.stdout.write(`median ${build}: ${shown.join('; ')}\n`);
}
