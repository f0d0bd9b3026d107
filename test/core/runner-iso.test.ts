import t from 'tap';
import { isoAt } from '../../src/core/runner.js';

// isoAt writes a result's started_at from the date's UTC fields instead of toISOString (whose first call loads the
// local time zone): the same text for every time, including fractions of a millisecond and the edges of the years
// toISOString writes with four digits; outside them, toISOString's own form.

const TIMES = [
  0,
  1,
  9.999,
  -1,
  999,
  1_000,
  60_000,
  86_399_999,
  951_782_400_000, // 2000-02-29
  1_764_500_000_123.7,
  Date.UTC(2026, 11, 31, 23, 59, 59, 999),
  Date.UTC(9999, 11, 31, 23, 59, 59, 999),
  Date.UTC(10_000, 0, 1),
  Date.UTC(0, 0, 1) - 1,
  -62_198_755_200_000, // year 0
  8.64e15,
  -8.64e15,
];

t.test('a time is written as toISOString writes it, from year 0 to 9999 and beyond', (t) => {
  for (const time of TIMES) t.equal(isoAt(time), new Date(Math.floor(time)).toISOString(), `${time}`);
  t.equal(isoAt(1_000.4), isoAt(1_000.9), 'the same millisecond, the same text');
  t.end();
});

t.test('a time no date can hold throws as toISOString does', (t) => {
  t.throws(() => isoAt(8.64e15 + 1), RangeError);
  t.throws(() => isoAt(Number.NaN), RangeError);
  t.end();
});
