import t from 'tap';
import {
  attemptsNeeded,
  judgeSilence,
  MAX_SILENT_ATTEMPTS,
  PathLoss,
  SILENCE_BOUND,
  wilsonUpper,
} from '../../src/core/path-loss.js';

t.test('the loss bound is above the measured rate and shrinks with more trials', async (t) => {
  t.equal(wilsonUpper(0, 0), 1, 'no trials: nothing is ruled out');
  t.ok(wilsonUpper(0, 10) > 0.1, 'ten clean trials do not rule out 10 % loss');
  t.ok(wilsonUpper(20, 100) > 0.2 && wilsonUpper(20, 100) < 0.3);
  t.ok(wilsonUpper(200, 1000) < wilsonUpper(20, 100), 'more trials, a tighter bound');
});

t.test('attempts needed make silence of every silent port unlikely to be loss', async (t) => {
  for (const [upper, ports] of [
    [0.19, 100],
    [0.51, 1],
    [0.05, 65535],
  ] as const) {
    const n = attemptsNeeded(upper, ports);
    t.ok(ports * upper ** n <= SILENCE_BOUND, `${ports} ports at ${upper}: ${n} attempts suffice`);
    t.ok(n === 1 || ports * upper ** (n - 1) > SILENCE_BOUND, `and ${n - 1} would not`);
  }
  t.equal(attemptsNeeded(1, 10), Infinity, 'a path that loses everything proves nothing');
  t.equal(attemptsNeeded(0, 10), 1);
});

t.test('silence is proven, retried, capped or left unmeasured', async (t) => {
  const loss = new PathLoss();
  t.same(judgeSilence(undefined, 1, 10), { kind: 'unmeasured' }, 'nothing answered: the configured attempts stand');
  t.match(judgeSilence(loss.measure('a'), 1, 10), { kind: 'retry' }, 'no loss probe yet: another round');
  for (let i = 0; i < 1000; i += 1) loss.trial('a', i % 10 !== 0);
  t.match(loss.measure('a'), { sent: 1000, lost: 100, rate: 0.1 });
  const needed = attemptsNeeded(loss.measure('a').upper, 10);
  t.match(judgeSilence(loss.measure('a'), needed, 10), { kind: 'proven', needed });
  t.match(judgeSilence(loss.measure('a'), needed - 1, 10), { kind: 'retry' });
  for (let i = 0; i < 1000; i += 1) loss.trial('b', i % 2 === 0);
  t.match(
    judgeSilence(loss.measure('b'), MAX_SILENT_ATTEMPTS, 10),
    { kind: 'unproven' },
    'half lost: ten attempts cannot prove it',
  );
  t.match(judgeSilence(loss.measure('b'), 9, 10, 3), { kind: 'unproven' }, 'a round never passes the cap');
  t.equal(loss.measure('c').upper, 1, 'an address without loss probes has no bound');
});
