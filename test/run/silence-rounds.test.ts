import t from 'tap';
import type { ProbeSpec } from '../../src/core/probe-kind.js';
import type { Observation } from '../../src/core/result.js';
import { executePlan } from '../../src/run/execute.js';
import { testKind } from '../helpers/test-kind.js';

// In process, no packets: a fake kind stands for a path. Ports below 100 answer (closed) except when the path
// loses the attempt; ports from 100 never answer; port 50 is open. Loss comes from a seeded generator, so runs
// repeat exactly.
function plan(address: string, expect: 'blocked' | 'reachable' = 'blocked', ports = 120): ProbeSpec[] {
  return Array.from({ length: ports }, (_, i) => ({
    id: `fake:${address}:${i + 1}`,
    kind: 'fake',
    target: { host: address, address, port: i + 1, protocol: 'tcp' as const },
    expect,
    options: {},
    timeoutMs: 100,
    attempts: 1,
  }));
}

/** A fake path that loses each attempt with probability `loss`, drawn from a seeded linear congruential generator. */
function path(loss: number) {
  let seed = 12345;
  const draw = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  return testKind({
    observe: async (spec): Promise<Observation> => {
      await Promise.resolve();
      const lost = draw() < loss;
      if (spec.target.port >= 100 || lost) return { state: 'filtered', reason: 'no answer', attempts: 1 };
      if (spec.target.port === 50) return { state: 'open', reason: 'connected', attempts: 1 };
      return { state: 'closed', reason: 'refused', attempts: 1 };
    },
  });
}

const run = (specs: ProbeSpec[], kind: ReturnType<typeof path>) =>
  executePlan(specs, () => kind, { concurrency: 16, warn: (message) => t.fail(message) });

t.test(
  'on a clean path silent ports are filtered after a few rounds, with attempts and loss in evidence',
  async (t) => {
    const results = await run(plan('192.0.2.1'), path(0));
    const silent = results.filter((result) => result.target.port! >= 100);
    t.ok(silent.every((result) => result.state === 'filtered' && result.verdict === 'pass'));
    t.ok(
      silent.every((result) => result.attempts >= 2 && result.attempts <= 5),
      `${silent[0]!.attempts} attempts`,
    );
    t.match(silent[0]!.evidence, {
      silence: { attempts: silent[0]!.attempts, loss: 0, loss_probes: { lost: 0 }, bound: 0.001 },
    });
    t.match(silent[0]!.reason, /silent to \d attempts in \d rounds, loss to 192\.0\.2\.1 measured 0 %/);
    t.equal(results.filter((result) => result.state === 'closed').length, 98);
  },
);

t.test('on a path that loses half the attempts silence is inconclusive, never a pass', async (t) => {
  const results = await run(plan('192.0.2.2'), path(0.5));
  const silent = results.filter((result) => result.target.port! >= 100);
  t.ok(silent.every((result) => result.verdict === 'inconclusive' && result.attempts === 10));
  t.match(silent[0]!.reason, /but the path is lossy: loss to 192\.0\.2\.2 measured \d+ %/);
  t.equal(results.find((result) => result.target.port === 50)!.state, 'open', 'the open port is found on a retry');
  t.notOk(
    results.some((result) => result.target.port! >= 100 && result.state !== 'filtered'),
    'a silent port is never anything but filtered',
  );
  t.notOk(
    results.some((result) => result.state === 'filtered' && result.verdict === 'pass'),
    'no silence passes as blocked',
  );
});

t.test('a silent positive row on a lossy path says that the path is lossy', async (t) => {
  const results = await run(plan('192.0.2.3', 'reachable'), path(0.5));
  const silent = results.find((result) => result.target.port === 100)!;
  t.match(silent, { state: 'filtered', verdict: 'fail' });
  t.match(silent.reason, /the path is lossy/);
});

t.test('an address where nothing answers keeps its configured attempts, and says loss was not measured', async (t) => {
  const results = await run(
    plan('192.0.2.4').filter((spec) => spec.target.port! >= 100),
    path(0),
  );
  t.ok(results.every((result) => result.state === 'filtered' && result.attempts === 1 && result.verdict === 'pass'));
  t.match(results[0]!.evidence, {
    silence: { attempts: 1, rounds: 1, loss: null, loss_note: /nothing sent to 192\.0\.2\.4 answered/ },
  });
});

t.test(
  'a loss probe to a tcp port is a bare connect (or SYN) from the same source, without TLS or request',
  async (t) => {
    const { default: tcp } = await import('../../probes/tcp.js');
    const viewer = {
      ...plan('192.0.2.5', 'reachable', 1)[0]!,
      kind: 'tcp',
      options: tcp.parseOptions({ tls: true, 'expect-reply': '^RFB', source: '192.0.2.9', trace: 'on-fail' }),
    };
    const trial = tcp.lossTrial!(viewer);
    t.same(trial.options, { source: '192.0.2.9' });
    t.equal(trial.target, viewer.target);
    t.equal(tcp.stateOnlyScan!(viewer), undefined, 'the TLS probe needs a connection of its own');
    const bare = tcp.lossTrial!({ ...viewer, options: tcp.parseOptions({ tls: true }) });
    t.equal(tcp.stateOnlyScan!(bare), 'connect', 'its loss probe (from no set source) runs on the sweep engine');
    const syn = { ...viewer, options: tcp.parseOptions({ scan: 'auto' }) };
    t.same(
      tcp.lossTrial!(syn).options,
      { scan: 'auto' },
      'a probe in SYN mode keeps it: the service sees no connection',
    );
  },
);
