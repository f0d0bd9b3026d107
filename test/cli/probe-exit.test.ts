import { spawn, spawnSync } from 'node:child_process';
import t from 'tap';
import type { RunReport } from '../../src/core/result.js';
import { BIN, printedJson, type CliRun } from '../helpers/cli.js';
import { needsLab } from '../lab/lab.js';

// `reachgate probe` ends the process itself once its report is written (src/cli/probe-entry.ts), without Node's
// teardown: a sweep's whole report still reaches a pipe whose reader is slow (the writes a full pipe buffer turned
// asynchronous go out first), and the exit code is the verdicts'. An empty network namespace of this test's own,
// where every port of 127.0.0.1 is closed: 2,000 results, a few hundred KB of JSON.

const PORTS = '20000-21999';
const COUNT = 2000;
const RUN_TIMEOUT_MS = 30_000;

/** `reachgate ARGS` in `ns`, its stdout through a reader that starts a second late; its exit code (pipefail). */
function throughSlowReader(ns: string, args: string[]): Promise<CliRun> {
  const quoted = [process.execPath, BIN, ...args].map((word) => `'${word}'`).join(' ');
  const child = spawn(
    'bash',
    ['-c', `set -o pipefail; ip netns exec ${ns} env -u NODE_OPTIONS ${quoted} | (sleep 1; cat)`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.test(
  'a sweep whose report outgrows a pipe buffer reaches a slow reader whole before the process exits',
  async (t) => {
    if (needsLab(t)) return;
    const ns = `rgexit${process.pid}`;
    const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8', timeout: 5000 });
    t.teardown(() => {
      spawnSync('ip', ['netns', 'del', ns], { timeout: 5000 });
    });
    t.equal(add.status, 0, `ip netns add ${ns}: ${add.stderr}`);
    t.equal(spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { timeout: 5000 }).status, 0, 'lo up');

    const blocked = await throughSlowReader(ns, [
      'probe',
      'tcp',
      `127.0.0.1:${PORTS}`,
      '--expect',
      'blocked',
      '--json',
    ]);
    t.equal(blocked.code, 0, 'every port closed: every verdict passes');
    const report = printedJson<RunReport>(blocked);
    t.equal(report.results.length, COUNT);
    t.same(report.summary, { pass: COUNT, fail: 0, inconclusive: 0, error: 0 });

    const reachable = await throughSlowReader(ns, ['probe', 'tcp', `127.0.0.1:${PORTS}`]);
    t.equal(reachable.code, 1, 'every port closed: every verdict fails');
    const lines = reachable.stdout.trimEnd().split('\n');
    t.equal(lines.length, COUNT + 1, 'a line per port, then the summary');
    t.equal(lines.at(-1), `${COUNT} probes: 0 pass, ${COUNT} fail`);
  },
);
