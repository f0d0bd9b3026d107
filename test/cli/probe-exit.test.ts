import { spawnSync } from 'node:child_process';
import t from 'tap';
import type { RunReport } from '../../src/core/result.js';
import { printedJson, reachgate } from '../helpers/cli.js';
import { needsLab } from '../lab/lab.js';

// `reachgate probe` ends the process itself once its report is written (src/cli/probe-entry.ts), without Node's
// teardown: a sweep's whole report still reaches a pipe, and the exit code is the verdicts'. An empty network
// namespace of this test's own, where every port of 127.0.0.1 is closed: 2,000 results, a few hundred KB of JSON.

const PORTS = '20000-21999';
const COUNT = 2000;

t.test('a sweep whose report outgrows a pipe buffer is printed whole before the process exits', async (t) => {
  if (needsLab(t)) return;
  const ns = `rgexit${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8', timeout: 5000 });
  t.teardown(() => {
    spawnSync('ip', ['netns', 'del', ns], { timeout: 5000 });
  });
  t.equal(add.status, 0, `ip netns add ${ns}: ${add.stderr}`);
  t.equal(spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { timeout: 5000 }).status, 0, 'lo up');

  const blocked = await reachgate(['probe', 'tcp', `127.0.0.1:${PORTS}`, '--expect', 'blocked', '--json'], {
    netns: ns,
  });
  t.equal(blocked.code, 0, 'every port closed: every verdict passes');
  const report = printedJson<RunReport>(blocked);
  t.equal(report.results.length, COUNT);
  t.same(report.summary, { pass: COUNT, fail: 0, inconclusive: 0, error: 0 });

  const reachable = await reachgate(['probe', 'tcp', `127.0.0.1:${PORTS}`], { netns: ns });
  t.equal(reachable.code, 1, 'every port closed: every verdict fails');
  const lines = reachable.stdout.trimEnd().split('\n');
  t.equal(lines.length, COUNT + 1, 'a line per port, then the summary');
  t.equal(lines.at(-1), `${COUNT} probes: 0 pass, ${COUNT} fail`);
});
