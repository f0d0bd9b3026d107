import t from 'tap';
import { exitCodeOf, judge, summarize } from '../../src/core/verdict.js';

t.test('an open port with no check passes when reachable is expected', async (t) => {
  t.equal(judge('reachable', 'open'), 'pass');
});

t.test('an open port whose check failed fails when reachable is expected', async (t) => {
  t.equal(judge('reachable', 'open', { ok: false, detail: 'banner did not match' }), 'fail');
});

t.test('every blocking state passes when blocked is expected', async (t) => {
  for (const state of ['filtered', 'prohibited', 'unreachable', 'closed'] as const) {
    t.equal(judge('blocked', state), 'pass', state);
    t.equal(judge('reachable', state), 'fail', state);
  }
});

t.test('an open port fails a blocked expectation even when its check failed', async (t) => {
  t.equal(judge('blocked', 'open', { ok: false, detail: 'x' }), 'fail');
});

t.test('an unresolved name proves nothing about a blocked path', async (t) => {
  t.equal(judge('blocked', 'unresolved'), 'inconclusive');
  t.equal(judge('reachable', 'unresolved'), 'fail');
});

t.test('a probe that could not run is an error whatever was expected', async (t) => {
  t.equal(judge('reachable', 'error'), 'error');
  t.equal(judge('blocked', 'error'), 'error');
});

t.test('the exit code is 0 only when every verdict passed', async (t) => {
  t.equal(exitCodeOf(summarize(['pass', 'pass'])), 0);
  t.equal(exitCodeOf(summarize(['pass', 'inconclusive'])), 1);
  t.equal(exitCodeOf(summarize(['error'])), 1);
  t.same(summarize(['pass', 'fail', 'fail', 'error']), { pass: 1, fail: 2, inconclusive: 0, error: 1 });
});

t.test('silence from a protocol that never answers is inconclusive either way', async (t) => {
  t.equal(judge('reachable', 'filtered', undefined, true), 'inconclusive');
  t.equal(judge('blocked', 'filtered', undefined, true), 'inconclusive');
  t.equal(judge('blocked', 'closed', undefined, true), 'pass');
});
