import type { Check, Expectation, State, Summary, Verdict } from './result.js';

const BLOCKED_STATES: ReadonlySet<State> = new Set(['filtered', 'prohibited', 'unreachable', 'closed']);

/** Judge what was observed against what was expected; silence from a protocol that never answers proves nothing. */
export function judge(expect: Expectation, state: State, check?: Check, silenceExpected = false): Verdict {
  if (state === 'error') return 'error';
  if (silenceExpected && state === 'filtered') return 'inconclusive';
  if (expect === 'reachable') {
    return state === 'open' && (check === undefined || check.ok) ? 'pass' : 'fail';
  }
  if (state === 'open') return 'fail';
  if (BLOCKED_STATES.has(state)) return 'pass';
  // An unresolved name was never probed: it proves nothing about the path.
  return 'inconclusive';
}

/** Count verdicts. */
export function summarize(verdicts: Iterable<Verdict>): Summary {
  const summary: Summary = { pass: 0, fail: 0, inconclusive: 0, error: 0 };
  for (const verdict of verdicts) summary[verdict] += 1;
  return summary;
}

/** The process exit code of a run: 0 when every verdict passed, 1 otherwise. */
export function exitCodeOf(summary: Summary): 0 | 1 {
  return summary.fail + summary.inconclusive + summary.error === 0 ? 0 : 1;
}
