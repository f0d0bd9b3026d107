import type { Check, Observation } from './result.js';
import { formatMs } from './duration.js';

/** What an answered probe reports beside its state and reason. */
export interface AnswerFacts {
  rtt_ms?: number;
  attempts: number;
  evidence?: Record<string, unknown>;
}

/** How a kind words its silence. */
export interface Silence {
  /** What did not come back (default: answer). */
  awaited?: string;
  /** What the silence may mean (default: silently dropped). */
  meaning?: string;
}

/** The reason for silence: nothing came back before the deadline, after `attempts` attempts, and what that may mean. */
export function silenceReason(timeoutMs: number, attempts: number, silence: Silence = {}): string {
  const { awaited = 'answer', meaning = 'silently dropped' } = silence;
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  return `no ${awaited} within ${formatMs(timeoutMs)} (${tries}): ${meaning}`;
}

/** The observation of silence after `attempts` attempts: filtered, with the reason {@link silenceReason} gives. */
export function silentAfter(timeoutMs: number, attempts: number, silence?: Silence): Observation {
  return { state: 'filtered', reason: silenceReason(timeoutMs, attempts, silence), attempts };
}

/**
 * The observation of a port that answered. `head` says how it answered; the checks say what the answer
 * showed: the first failed one (`head, but detail`), or all of them (`head; detail; detail`).
 */
export function answeredWith(head: string, checks: readonly Check[], facts: AnswerFacts): Observation {
  const check = combinedCheck(checks);
  return {
    state: 'open',
    ...(check ? { check } : {}),
    reason: check ? `${head}${check.ok ? '; ' : ', but '}${check.detail}` : head,
    ...(facts.rtt_ms === undefined ? {} : { rtt_ms: facts.rtt_ms }),
    attempts: facts.attempts,
    ...(facts.evidence && Object.keys(facts.evidence).length > 0 ? { evidence: facts.evidence } : {}),
  };
}

/** One check for several: the first that failed, or all passed with their details joined; none for no checks. */
export function combinedCheck(checks: readonly Check[]): Check | undefined {
  if (checks.length === 0) return undefined;
  return checks.find((check) => !check.ok) ?? { ok: true, detail: checks.map((check) => check.detail).join('; ') };
}
