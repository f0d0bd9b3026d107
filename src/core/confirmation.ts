import type { ProbeResult } from './result.js';
import { isNonce, type Receipt } from './receipt.js';
import { judge } from './verdict.js';

// The coordinator's join of a one-way probe to the far side's receipt (DESIGN.md "responder"): a result
// that names a responder role (`confirm`) and carries a nonce is proven by a receipt of that nonce from
// an agent of that role, disproven by such an agent's fresh report that lacks it, and left inconclusive
// while no agent of the role is fresh.

/** A receipt as the coordinator holds it: which responder agent, of which role, reported it. */
export interface HeldReceipt extends Receipt {
  responder: string;
  role: string;
}

/** What the coordinator knows of one responder: its role and when it last reported (its heartbeat). */
export interface ResponderHeartbeat {
  agent: string;
  role: string;
  last_report_at: string;
  interval_s: number;
}

/**
 * How long after a probe started its nonce may arrive by default (the coordinator's `--confirm-window`), the
 * bounds of that setting, and how far a responder's clock may run behind.
 */
export const CONFIRM_WINDOW_MS = 60_000;
export const CONFIRM_WINDOW_MIN_MS = 1_000;
export const CONFIRM_WINDOW_MAX_MS = 3_600_000;
export const CLOCK_SKEW_MS = 5_000;

/** A confirmation window (ms) checked to be a whole number within its bounds; a RangeError otherwise. */
export function confirmWindowMs(windowMs: number = CONFIRM_WINDOW_MS): number {
  if (!Number.isInteger(windowMs) || windowMs < CONFIRM_WINDOW_MIN_MS || windowMs > CONFIRM_WINDOW_MAX_MS) {
    throw new RangeError(
      `the confirmation window must be a whole number of ms from ${CONFIRM_WINDOW_MIN_MS} to ${CONFIRM_WINDOW_MAX_MS}, got ${String(windowMs)}`,
    );
  }
  return windowMs;
}

/** The nonce a result carries, when it has one. */
export function nonceOf(result: ProbeResult): string | undefined {
  const nonce = result.evidence?.nonce;
  return isNonce(nonce) ? nonce : undefined;
}

/**
 * Judge a result that names a responder role against what the responders reported: pass (or, for
 * expect blocked, fail) on a receipt of its nonce within the window (`windowMs` after the probe started)
 * from an agent of that role; the
 * opposite when a fresh agent of that role reported after the window closed without it; otherwise
 * inconclusive. A result with an answer of its own (an ICMP error, a refused connect) is kept as it is.
 */
export function judgeConfirmation(
  result: ProbeResult,
  receipt: HeldReceipt | undefined,
  responders: readonly ResponderHeartbeat[],
  now: Date,
  windowMs: number = CONFIRM_WINDOW_MS,
): ProbeResult {
  const nonce = nonceOf(result);
  if (!result.confirm || nonce === undefined || !['open', 'filtered'].includes(result.state)) return result;
  const role = result.confirm;
  const started = Date.parse(result.started_at);
  const windowEnd = started + windowMs;
  const revised = (state: 'open' | 'filtered', reason: string): ProbeResult => ({
    ...result,
    state,
    verdict: judge(result.expect, state, state === 'open' ? result.check : undefined),
    reason,
    evidence: { ...result.evidence, ...(receipt && state === 'open' ? { receipt } : {}) },
  });
  const inTime =
    receipt !== undefined &&
    receipt.role === role &&
    Date.parse(receipt.received_at) >= started - CLOCK_SKEW_MS &&
    Date.parse(receipt.received_at) <= windowEnd;
  if (receipt && inTime) {
    return revised(
      'open',
      `delivered: responder ${receipt.responder} (${role}) saw its nonce on ${receipt.protocol}/${receipt.port} ` +
        `from ${receipt.source}:${receipt.source_port} at ${receipt.received_at}`,
    );
  }
  const ofRole = responders.filter((responder) => responder.role === role);
  const fresh = ofRole.filter(
    (responder) => now.getTime() - Date.parse(responder.last_report_at) <= 2 * responder.interval_s * 1000,
  );
  const covering = fresh.find((responder) => Date.parse(responder.last_report_at) >= windowEnd);
  if (covering) {
    return revised(
      'filtered',
      `not delivered: responder ${covering.agent} (${role}) reported at ${covering.last_report_at} ` +
        `without its nonce: dropped on the way`,
    );
  }
  const why =
    fresh.length > 0
      ? `waiting for responder ${fresh[0]!.agent} (${role}) to report past the probe's window`
      : ofRole.length > 0
        ? `responder ${ofRole[0]!.agent} (${role}) is stale: last report at ${ofRole[0]!.last_report_at}`
        : `no responder of role ${role} has reported`;
  return { ...result, verdict: 'inconclusive', reason: `${result.reason}; not confirmed: ${why}` };
}
