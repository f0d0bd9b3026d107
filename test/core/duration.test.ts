import t from 'tap';
import { formatMs, parseDuration } from '../../src/core/duration.js';

t.test('durations take ms, s and m, and a bare number is seconds', async (t) => {
  t.equal(parseDuration('500ms', '--timeout'), 500);
  t.equal(parseDuration('2s', '--timeout'), 2000);
  t.equal(parseDuration('1.5', '--timeout'), 1500);
  t.equal(parseDuration('1m', '--timeout'), 60_000);
});

t.test('a bad duration names the option and what it got', async (t) => {
  t.throws(() => parseDuration('abc', '--timeout'), /`--timeout` option to be a duration like 2s or 500ms, got `abc`/);
  t.throws(() => parseDuration('0s', '--timeout'), /more than 0/);
  t.throws(() => parseDuration('-1s', '--timeout'), /duration/);
});

t.test('reason lines show short times with a decimal and long ones in seconds', async (t) => {
  t.equal(formatMs(0.42), '0.4 ms');
  t.equal(formatMs(12.3), '12 ms');
  t.equal(formatMs(2000), '2 s');
  t.equal(formatMs(1500), '1.5 s');
});
