import t from 'tap';
import { DEADLINE, runPlan } from '../../src/core/runner.js';
import { signalDeadline } from '../../src/core/deadline.js';
import type { ProbeContext, ProbeSpec } from '../../src/core/probe-kind.js';
import type { Observation } from '../../src/core/result.js';
import { testKind } from '../helpers/test-kind.js';

const NO_ICMP = { icmp: null, icmpNote: undefined };

function plan(timeouts: number[]): ProbeSpec[] {
  return timeouts.map((timeoutMs, i) => ({
    id: `p${i}`,
    kind: 'fake',
    target: { host: 'h', address: '192.0.2.1', port: i + 1, protocol: 'tcp' },
    expect: 'blocked',
    options: {},
    timeoutMs,
    attempts: 1,
  }));
}

const silent = (): Observation => ({ state: 'filtered', reason: 'no answer', attempts: 1 });

/** Timers alive in this process: a run must leave none behind once it is done. */
function liveTimers(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
}

t.test('a probe that watches only its deadline is told to stop once, never before its deadline', async (t) => {
  const seen: Array<{ calls: number; elapsed: number; expired: boolean }> = [];
  let started = 0;
  const kind = testKind({
    observe: (spec, context) =>
      new Promise((resolve) => {
        const entry = { calls: 0, elapsed: 0, expired: false };
        seen.push(entry);
        context.deadline!.onExpiry(() => {
          entry.calls += 1;
          entry.elapsed = performance.now() - started;
          entry.expired = context.deadline!.expired;
          resolve(silent());
        });
      }),
  });
  const timersBefore = liveTimers();
  // All in one wave: every probe starts after `started`, so none may be told to stop before started + 30 ms.
  started = performance.now();
  const results = await runPlan(plan(Array.from({ length: 300 }, () => 30)), () => kind, NO_ICMP, {
    concurrency: 300,
  });
  t.equal(results.length, 300);
  t.ok(
    results.every((result) => result.state === 'filtered' && result.verdict === 'pass'),
    'every probe settled as its kind said',
  );
  t.ok(
    seen.every((entry) => entry.calls === 1 && entry.expired),
    'each watcher ran once, with the deadline expired',
  );
  t.ok(
    seen.every((entry) => entry.elapsed >= 30),
    'no probe was stopped before its 30 ms deadline',
  );
  t.equal(liveTimers(), timersBefore, 'the run leaves no timer behind');
});

t.test('probes with different deadlines in one run each expire at their own', async (t) => {
  const order: string[] = [];
  const contexts = new Map<string, ProbeContext>();
  const kind = testKind({
    observe: (spec, context) =>
      new Promise((resolve) => {
        contexts.set(spec.id, context);
        context.deadline!.onExpiry(() => {
          // When the short deadline passes, the long one has not.
          order.push(`${spec.id}:${[...contexts.values()].filter((c) => c.deadline!.expired).length}`);
          resolve(silent());
        });
      }),
  });
  await runPlan(plan([1500, 20]), () => kind, NO_ICMP, { concurrency: 2 });
  t.same(order, ['p1:1', 'p0:2']);
});

t.test('a signal asked for after the deadline comes aborted, with the deadline as its reason', async (t) => {
  const kind = testKind({
    observe: (spec, context) =>
      new Promise((resolve) => {
        // The signal is made only now, after the deadline expired.
        context.deadline!.onExpiry(() => {
          const { signal } = context;
          resolve({ state: 'filtered', reason: `aborted ${signal.aborted} by ${String(signal.reason)}`, attempts: 1 });
        });
      }),
  });
  const [result] = await runPlan(plan([10]), () => kind, NO_ICMP, { concurrency: 1 });
  t.equal(result!.reason, `aborted true by ${DEADLINE}`);
});

t.test('a probe that settled early is never aborted afterwards', async (t) => {
  const signals: AbortSignal[] = [];
  let watcherCalls = 0;
  const kind = testKind({
    observe: (spec, context) => {
      signals.push(context.signal);
      context.deadline!.onExpiry(() => (watcherCalls += 1));
      return new Promise((resolve) => setTimeout(() => resolve({ state: 'open', reason: 'ok', attempts: 1 }), 2));
    },
  });
  await runPlan(plan([30, 30, 30]), () => kind, NO_ICMP, { concurrency: 3 });
  await new Promise((resolve) => setTimeout(resolve, 80));
  t.same(
    signals.map((signal) => signal.aborted),
    [false, false, false],
  );
  t.equal(watcherCalls, 0);
});

t.test('a result callback that throws fails the run, and no probe starts after it', async (t) => {
  let started = 0;
  const kind = testKind({
    observe: () => {
      started += 1;
      return Promise.resolve({ state: 'open', reason: 'ok', attempts: 1 });
    },
  });
  const run = runPlan(plan([1000, 1000, 1000, 1000]), () => kind, NO_ICMP, {
    concurrency: 1,
    onResult: () => {
      throw new Error('writer broke');
    },
  });
  await t.rejects(run, { message: 'writer broke' });
  t.equal(started, 1);
});

t.test('a deadline over a signal tells its one watcher once, and forgets a removed one', async (t) => {
  const controller = new AbortController();
  const deadline = signalDeadline(controller.signal);
  let first = 0;
  let second = 0;
  deadline.onExpiry(() => (first += 1));
  deadline.onExpiry(() => (second += 1));
  t.equal(deadline.expired, false);
  controller.abort(DEADLINE);
  controller.abort(DEADLINE);
  t.same([first, second, deadline.expired], [0, 1, true]);
  const other = new AbortController();
  const removed = signalDeadline(other.signal);
  removed.onExpiry(() => (first += 1));
  removed.onExpiry(null);
  other.abort();
  t.equal(first, 0);
});
