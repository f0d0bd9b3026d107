import type { BlockedMode, Check, Expectation, IcmpEvidence, State, Summary, Verdict } from './result.js';

const BLOCKED_STATES: ReadonlySet<State> = new Set(['filtered', 'prohibited', 'unreachable', 'closed']);

/** How a blocked path showed itself: silence, or an answer that refused it. */
export type BlockedHow = 'dropped' | 'rejected';

/** What a blocked mode demands, for a result's reason. */
const DEMANDS: Record<Exclude<BlockedMode, 'any'>, string> = {
  drop: 'a silent drop',
  reject: 'a reject (an answer refusing it)',
};

/**
 * How a blocked state was blocked: silence is a drop; a reset, port unreachable or prohibited is a reject;
 * unreachable is a reject only when the ICMP error itself was seen (else it may be a missing route or neighbour).
 */
export function blockedHow(state: State, icmp?: IcmpEvidence): BlockedHow | undefined {
  if (state === 'filtered') return 'dropped';
  if (state === 'closed' || state === 'prohibited') return 'rejected';
  if (state === 'unreachable' && icmp) return 'rejected';
  return undefined;
}

/** Judge what was observed against what was expected; silence from a protocol that never answers proves nothing. */
export function judge(
  expect: Expectation,
  state: State,
  check?: Check,
  silenceExpected = false,
  mode: BlockedMode = 'any',
  icmp?: IcmpEvidence,
): Verdict {
  if (state === 'error') return 'error';
  if (silenceExpected && state === 'filtered') return 'inconclusive';
  if (expect === 'reachable') {
    return state === 'open' && (check === undefined || check.ok) ? 'pass' : 'fail';
  }
  if (state === 'open') return 'fail';
  if (!BLOCKED_STATES.has(state)) {
    // An unresolved name was never probed: it proves nothing about the path.
    return 'inconclusive';
  }
  if (mode === 'any') return 'pass';
  const how = blockedHow(state, icmp);
  if (how === undefined) return 'inconclusive';
  return (how === 'dropped') === (mode === 'drop') ? 'pass' : 'fail';
}

/** The reason of a blocked-mode result: what was demanded, when the observation did not meet it, then what was seen. */
export function blockedModeReason(mode: BlockedMode, state: State, reason: string, icmp?: IcmpEvidence): string {
  if (mode === 'any' || !BLOCKED_STATES.has(state)) return reason;
  const how = blockedHow(state, icmp);
  if (how === undefined) return `expected ${DEMANDS[mode]}; cannot tell without the ICMP error: ${reason}`;
  if ((how === 'dropped') === (mode === 'drop')) return reason;
  return `expected ${DEMANDS[mode]}, but ${how}: ${reason}`;
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
