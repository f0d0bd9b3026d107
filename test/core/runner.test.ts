import t from 'tap';
import { inPlanOrder, runPlan } from '../../src/core/runner.js';
import type { ProbeSpec } from '../../src/core/probe-kind.js';
import type { ProbeResult } from '../../src/core/result.js';
import { testKind } from '../helpers/test-kind.js';

/** A probe kind that answers after the delay its port names, and counts how many run at once. */
function fakeKind(behaviour: 'answers' | 'ignores-deadline' | 'throws') {
  const stats = { inFlight: 0, peak: 0 };
  const kind = testKind({
    async observe(spec, context) {
      stats.inFlight += 1;
      stats.peak = Math.max(stats.peak, stats.inFlight);
      try {
        if (behaviour === 'throws') throw new Error('codec bug');
        const delay = spec.target.port;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          if (behaviour === 'answers')
            context.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              resolve();
            });
        });
        return context.signal.aborted
          ? { state: 'filtered', reason: 'deadline', attempts: 1 }
          : { state: 'open', reason: 'ok', attempts: 1 };
      } finally {
        stats.inFlight -= 1;
      }
    },
  });
  return { kind, stats };
}

function plan(delays: number[], timeoutMs = 1000): ProbeSpec[] {
  return delays.map((port, i) => ({
    id: `p${i}`,
    kind: 'fake',
    target: { host: 'h', address: '192.0.2.1', port, protocol: 'tcp' },
    expect: 'reachable',
    options: {},
    timeoutMs,
    attempts: 1,
  }));
}

t.test('results come back in plan order whatever order they finish in', async (t) => {
  const { kind } = fakeKind('answers');
  const results = await runPlan(plan([30, 1, 15]), () => kind, { icmp: null, icmpNote: undefined }, { concurrency: 3 });
  t.same(
    results.map((r) => r.id),
    ['p0', 'p1', 'p2'],
  );
});

t.test('no more probes are in flight than the concurrency bound', async (t) => {
  const { kind, stats } = fakeKind('answers');
  await runPlan(
    plan(Array.from({ length: 20 }, () => 2)),
    () => kind,
    { icmp: null, icmpNote: undefined },
    { concurrency: 4 },
  );
  t.equal(stats.peak, 4);
});

t.test('a probe past its deadline is told to stop and settles as the kind says', async (t) => {
  const { kind } = fakeKind('answers');
  const [result] = await runPlan(plan([5000], 50), () => kind, { icmp: null, icmpNote: undefined }, { concurrency: 1 });
  t.match(result, { state: 'filtered', verdict: 'fail' });
});

t.test('a probe that ignores its deadline is cut off as an internal fault', async (t) => {
  const { kind } = fakeKind('ignores-deadline');
  const [result] = await runPlan(plan([5000], 50), () => kind, { icmp: null, icmpNote: undefined }, { concurrency: 1 });
  t.match(result, { state: 'error', verdict: 'error', reason: /did not settle within its 50 ms deadline/ });
});

t.test('a probe kind that throws gives an error result and the run goes on', async (t) => {
  const { kind } = fakeKind('throws');
  const results = await runPlan(plan([1, 1]), () => kind, { icmp: null, icmpNote: undefined }, { concurrency: 1 });
  t.same(
    results.map((r) => [r.state, r.verdict]),
    [
      ['error', 'error'],
      ['error', 'error'],
    ],
  );
  t.match(results[0]!.reason, /internal fault in the fake probe: codec bug/);
});

t.test('an unresolved target is reported without being probed', async (t) => {
  const { kind, stats } = fakeKind('answers');
  const specs = plan([1]);
  specs[0] = {
    ...specs[0]!,
    target: { ...specs[0]!.target, address: null },
    unresolved: 'h: name does not exist (NXDOMAIN)',
  };
  const [result] = await runPlan(specs, () => kind, { icmp: null, icmpNote: undefined }, { concurrency: 1 });
  t.match(result, { state: 'unresolved', attempts: 0, reason: 'name not resolved: h: name does not exist (NXDOMAIN)' });
  t.equal(stats.peak, 0);
});

t.test('a rate limit spaces probe starts', async (t) => {
  const { kind } = fakeKind('answers');
  const started = performance.now();
  await runPlan(
    plan([0, 0, 0, 0, 0]),
    () => kind,
    { icmp: null, icmpNote: undefined },
    { concurrency: 5, ratePerSecond: 50 },
  );
  // Five starts at 50/s are four intervals of 20 ms apart: at least 80 ms, whatever the machine's speed.
  t.ok(performance.now() - started >= 75);
});

t.test('inPlanOrder releases each result once all before it are in', async (t) => {
  const seen: string[] = [];
  const deliver = inPlanOrder((result) => seen.push(result.id));
  const result = (id: string) => ({ id }) as ProbeResult;
  deliver(result('c'), 2);
  deliver(result('b'), 1);
  t.same(seen, []);
  deliver(result('a'), 0);
  t.same(seen, ['a', 'b', 'c']);
});

t.test('a probe whose target has no address is an internal fault and never reaches its kind', async (t) => {
  const { kind, stats } = fakeKind('answers');
  const [spec] = plan([1]);
  const addressless = { ...spec!, target: { ...spec!.target, address: null } };
  const [result] = await runPlan([addressless], () => kind, { icmp: null, icmpNote: undefined }, { concurrency: 1 });
  t.match(result, { state: 'error', verdict: 'error', reason: /came without an address/ });
  t.equal(stats.peak, 0);
});
