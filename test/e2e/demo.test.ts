import t from 'tap';
import { reachgate } from '../helpers/cli.js';
import { needsLab } from '../lab/lab.js';

// As root, .ci/run runs `npm run demo -- --once` on the namespace site before the tests; here the demo
// runs without privileges, where it falls back to a loopback-only site.
t.test('without root the demo runs the whole pipeline on loopback and prints a passing matrix', async (t) => {
  if (process.getuid?.() !== 0) {
    const run = await reachgate(['demo', '--once'], { timeoutMs: 120_000 });
    t.equal(run.code, 0, run.stderr);
    t.match(run.stdout, /a loopback-only site/);
    return;
  }
  const run = await reachgate(['demo', '--once'], { user: 'nobody', env: { HOME: '/tmp' }, timeoutMs: 120_000 });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /# reachgate demo: a loopback-only site \(not running as root/);
  t.match(run.stdout, /coordinator at http:\/\/127\.0\.0\.1:\d+/);
  t.match(run.stdout, /viewer\s+PASS/);
  t.match(run.stdout, /2 cells: 2 pass, 0 fail, 0 inconclusive, 0 error; 0 stale agents; 0 drift/);
});

t.test('as root the demo builds the port-table site, runs four agents and every cell passes', async (t) => {
  if (needsLab(t)) return;
  const run = await reachgate(['demo', '--once'], { timeoutMs: 180_000 });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /4 agents run their profiles and deliver/);
  t.match(run.stdout, /17 cells: 17 pass, 0 fail, 0 inconclusive, 0 error; 0 stale agents; 0 drift/);
});
