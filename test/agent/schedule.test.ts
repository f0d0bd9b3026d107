import t from 'tap';
import { nextRunDelay, retryDelay, sleep } from '../../src/agent/schedule.js';

t.test('runs are spread by up to the jitter either side of the interval', async (t) => {
  t.equal(
    nextRunDelay(300_000, 30_000, () => 0),
    270_000,
  );
  t.equal(
    nextRunDelay(300_000, 30_000, () => 0.5),
    300_000,
  );
  t.equal(
    nextRunDelay(300_000, 30_000, () => 0.999_999),
    300_000 + 30_000 - 0,
  );
  t.equal(nextRunDelay(300_000, 0, Math.random), 300_000, 'no jitter, no spread');
});

t.test('delivery retries back off exponentially with jitter, up to the maximum', async (t) => {
  const top = (failures: number): number => retryDelay(failures, 2000, 300_000, () => 1);
  const bottom = (failures: number): number => retryDelay(failures, 2000, 300_000, () => 0);
  t.same([1, 2, 3, 4, 5].map(top), [2000, 4000, 8000, 16_000, 32_000], 'doubles from the minimum');
  t.same(
    [1, 2, 3].map(bottom),
    [1000, 2000, 4000],
    'never less than half: agents cut off together spread out but do not hammer',
  );
  t.equal(top(20), 300_000, 'capped at the maximum');
  t.equal(top(10_000), 300_000, 'a long outage does not overflow');
});

t.test('sleep ends early when the agent is told to stop', async (t) => {
  // Bounds far from the values expected (20 ms, 0 ms): a loaded machine delays timers, it does not fire them early.
  const stop = new AbortController();
  const started = performance.now();
  setTimeout(() => stop.abort(), 20);
  await sleep(60_000, stop.signal);
  const stopped = performance.now() - started;
  t.ok(stopped >= 19, `not before the stop (${Math.round(stopped)} ms)`);
  t.ok(stopped < 5000, `at the stop, not after the interval (${Math.round(stopped)} ms)`);
  const again = performance.now();
  await sleep(60_000, stop.signal);
  const aborted = performance.now() - again;
  t.ok(aborted < 1000, `an aborted signal returns at once (${aborted.toFixed(1)} ms)`);
});

t.test('sleep without a stop lasts its interval', async (t) => {
  const started = performance.now();
  await sleep(50, new AbortController().signal);
  const slept = performance.now() - started;
  t.ok(slept >= 49 && slept < 5000, `about 50 ms (${Math.round(slept)} ms)`);
});
