import t from 'tap';
import { nextRunDelay, retryDelay, sleep } from '../../src/agent/schedule.js';

t.test('runs are spread by up to the jitter either side of the interval', async (t) => {
  t.equal(nextRunDelay(300_000, 30_000, () => 0), 270_000);
  t.equal(nextRunDelay(300_000, 30_000, () => 0.5), 300_000);
  t.equal(nextRunDelay(300_000, 30_000, () => 0.999_999), 300_000 + 30_000 - 0);
  t.equal(nextRunDelay(300_000, 0, Math.random), 300_000, 'no jitter, no spread');
});

t.test('delivery retries back off exponentially with jitter, up to the maximum', async (t) => {
  const top = (failures: number): number => retryDelay(failures, 2000, 300_000, () => 1);
  const bottom = (failures: number): number => retryDelay(failures, 2000, 300_000, () => 0);
  t.same([1, 2, 3, 4, 5].map(top), [2000, 4000, 8000, 16_000, 32_000], 'doubles from the minimum');
  t.same([1, 2, 3].map(bottom), [1000, 2000, 4000], 'never less than half: agents cut off together spread out but do not hammer');
  t.equal(top(20), 300_000, 'capped at the maximum');
  t.equal(top(10_000), 300_000, 'a long outage does not overflow');
});

t.test('sleep ends early when the agent is told to stop', async (t) => {
  const stop = new AbortController();
  const started = Date.now();
  setTimeout(() => stop.abort(), 20);
  await sleep(60_000, stop.signal);
  t.ok(Date.now() - started < 5000);
  await sleep(60_000, stop.signal);
  t.pass('an aborted signal returns at once');
});
