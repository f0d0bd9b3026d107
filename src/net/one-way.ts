import type { ProbeContext, ResolvedProbeSpec } from '../core/probe-kind.js';
import type { Observation } from '../core/result.js';
import { answeredWith } from '../core/observation.js';
import { formatMs } from '../core/duration.js';
import { exchangeWithTarget } from './udp-exchange.js';
import { failureObservation } from './classify.js';
import { awaitReceipt, confirmedChecks, type Confirmation, type ConfirmWith } from './confirm.js';

/** One datagram that nothing answers (a syslog message, a trap), and how to word what was sent. */
export interface OneWay {
  payload: Buffer;
  /** What the datagram is, for the reason: "message", "trap". */
  what: string;
  /** What a responder says about the payload's nonce, when one was asked. */
  confirmation: Promise<Confirmation> | undefined;
  evidence: Record<string, unknown>;
  /** Why silence proves nothing, e.g. "syslog over UDP never answers". */
  unanswered: string;
  /** Where an operator can look instead, e.g. "look for id … in the server's log". */
  lookFor: string;
}

/**
 * Send a one-way datagram that carries `nonce`, asking `confirm`'s responder (when given) whether it saw it
 * until the probe's deadline.
 */
export async function sendWithNonce(
  spec: ResolvedProbeSpec<unknown>,
  context: ProbeContext,
  nonce: string,
  confirm: ConfirmWith | undefined,
  oneWay: Omit<OneWay, 'confirmation'>,
): Promise<Observation> {
  const asking = confirm
    ? awaitReceipt(confirm, nonce, { protocol: 'udp', port: spec.target.port }, context.signal)
    : undefined;
  try {
    return await sendOneWay(spec, context, { ...oneWay, confirmation: asking?.confirmation });
  } finally {
    asking?.stop();
  }
}

/**
 * Send a one-way datagram: only an ICMP error can answer it. With a responder asked, its receipt makes the
 * path open, and its silence while it watched makes it filtered (dropped); without one, silence proves nothing.
 */
export async function sendOneWay(
  spec: ResolvedProbeSpec<unknown>,
  context: ProbeContext,
  oneWay: OneWay,
): Promise<Observation> {
  const { confirmation, evidence } = oneWay;
  // A receipt ends the wait for an ICMP error early: the datagram arrived, nothing can refuse it now.
  const delivered = new AbortController();
  const sentAt = performance.now();
  void confirmation?.then((answer) => {
    if (!answer.receipt) return;
    // Send to receipt, as the prober learns it: the figure the confirm benchmark measures.
    evidence.confirmed_ms = Math.round((performance.now() - sentAt) * 10) / 10;
    delivered.abort();
  });
  const outcome = await exchangeWithTarget(
    spec,
    // A narrower signal than the deadline's: the context's deadline (if any) would miss the delivery.
    { icmp: context.icmp, icmpNote: context.icmpNote, signal: AbortSignal.any([context.signal, delivered.signal]) },
    { request: () => oneWay.payload, accept: () => undefined },
  );
  if (outcome.kind === 'failed') {
    return { ...failureObservation(outcome, outcome.attempts, context.icmpNote, 'udp'), evidence };
  }
  const copies =
    outcome.attempts === 1 ? `sent 1 ${oneWay.what}` : `sent ${outcome.attempts} copies of the ${oneWay.what}`;
  const answer = await confirmation;
  if (answer?.receipt) {
    const checks = confirmedChecks(answer, spec.timeoutMs, evidence);
    return answeredWith(copies, checks, { attempts: outcome.attempts, evidence });
  }
  if (answer?.fresh) {
    return {
      state: 'filtered',
      reason:
        `${copies}, no ICMP error came back, and the responder watching udp/${spec.target.port} saw no nonce ` +
        `within ${formatMs(spec.timeoutMs)}: dropped on the way`,
      attempts: outcome.attempts,
      evidence,
    };
  }
  const unconfirmed = answer ? `not confirmed: ${answer.problem}` : oneWay.lookFor;
  return {
    state: 'filtered',
    reason:
      `${copies} and no ICMP error came back within ${formatMs(spec.timeoutMs)}; ${oneWay.unanswered}, ` +
      `so this cannot tell delivered from dropped and proves nothing open (${unconfirmed})`,
    attempts: outcome.attempts,
    silenceExpected: true,
    evidence,
  };
}
