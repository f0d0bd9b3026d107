/**
 * When does silence prove a block? A port that stays silent may be filtered, or open behind a path that lost
 * every attempt. The run measures each address's loss from its own answered probes, and silence counts only
 * once loss cannot explain it. Mode-independent: connect probes, SYN probes and UDP probes feed and read the
 * same measure (see docs/silence.md for the rule in words).
 */

/** The family-wise bound: the chance that loss hides any open port among an address's silent ports. */
export const SILENCE_BOUND = 1e-3;

/** Attempts per probe at most, rounds included (nmap's default --max-retries 10 makes 11 probes). */
export const MAX_SILENT_ATTEMPTS = 10;

/** One-sided 95 % confidence: the loss rate is taken at the upper end of what the answers allow. */
const Z = 1.645;

/** What the loss probes to one address measured. */
export interface LossMeasure {
  /** Loss probes sent: attempts to ports of the address that had answered before. */
  sent: number;
  /** Of those, the ones that came back with nothing. */
  lost: number;
  /** lost / sent: the share of attempts to an answering port that come back with nothing; NaN before any. */
  rate: number;
  /** The one-sided 95 % upper confidence bound of `rate` (Wilson score); 1 before any loss probe. */
  upper: number;
}

/**
 * Loss per address, measured by the run itself: a port that answered once is known to answer, so each further
 * attempt to it (a loss probe) is a clean trial, lost or answered. Counting retries of ports that answered late
 * instead would be biased: a port is known to answer only once it has, which favours its earlier losses.
 */
export class PathLoss {
  private readonly counts = new Map<string, { sent: number; lost: number }>();

  /** One loss probe to `address` answered (`answered`) or came back with nothing. */
  trial(address: string, answered: boolean): void {
    let count = this.counts.get(address);
    if (!count) this.counts.set(address, (count = { sent: 0, lost: 0 }));
    count.sent += 1;
    if (!answered) count.lost += 1;
  }

  /** The measure for `address`: rate NaN and bound 1 while no loss probe has come back. */
  measure(address: string): LossMeasure {
    const { sent, lost } = this.counts.get(address) ?? { sent: 0, lost: 0 };
    return { sent, lost, rate: sent === 0 ? NaN : lost / sent, upper: wilsonUpper(lost, sent) };
  }
}

/** The upper end of the one-sided 95 % Wilson score interval for `failures` in `trials`. */
export function wilsonUpper(failures: number, trials: number): number {
  if (trials === 0) return 1;
  const p = failures / trials;
  const z2 = Z * Z;
  const centre = p + z2 / (2 * trials);
  const spread = Z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return Math.min(1, (centre + spread) / (1 + z2 / trials));
}

/**
 * Attempts after which silence from `silentPorts` ports is not explained by loss: the least n with
 * silentPorts × upper^n ≤ SILENCE_BOUND. Infinity when the loss bound is 1 (nothing could ever prove it).
 */
export function attemptsNeeded(upper: number, silentPorts: number): number {
  if (upper <= 0) return 1;
  if (upper >= 1) return Infinity;
  const n = Math.log(SILENCE_BOUND / Math.max(1, silentPorts)) / Math.log(upper);
  return Math.max(1, Math.ceil(n - 1e-9));
}

/** What silence after some attempts shows, given the measured loss. */
export type SilenceJudgement =
  /** Nothing sent to the address answered: its loss cannot be measured, so the configured attempts stand. */
  | { kind: 'unmeasured' }
  /** Loss cannot explain the silence any more: it counts as a block. */
  | { kind: 'proven'; loss: LossMeasure; needed: number }
  /** Another round may settle it. */
  | { kind: 'retry'; loss: LossMeasure; needed: number }
  /** The cap is reached and loss may still explain the silence: inconclusive. */
  | { kind: 'unproven'; loss: LossMeasure; needed: number };

/**
 * Judge a port silent after `attempts` attempts, one of `silentPorts` silent ports to an address whose loss is
 * `loss` (undefined when nothing there answers); `perRound` is how many attempts another round adds.
 */
export function judgeSilence(
  loss: LossMeasure | undefined,
  attempts: number,
  silentPorts: number,
  perRound = 1,
): SilenceJudgement {
  if (!loss) return { kind: 'unmeasured' };
  const needed = attemptsNeeded(loss.upper, silentPorts);
  if (attempts >= needed) return { kind: 'proven', loss, needed };
  if (attempts + perRound <= Math.max(MAX_SILENT_ATTEMPTS, perRound)) return { kind: 'retry', loss, needed };
  return { kind: 'unproven', loss, needed };
}

/** A share as a percentage for a reason line: 0.187 → "18.7 %". */
export function percent(share: number): string {
  const value = share * 100;
  return `${value >= 10 || value === 0 ? Math.round(value) : value.toFixed(1)} %`;
}

/** How a loss measure reads in a reason: "loss to 192.0.2.1 measured 19 % (38 of 200 attempts ...)". */
export function describeLoss(address: string, loss: LossMeasure): string {
  if (loss.sent === 0) return `loss to ${address} not measured`;
  return (
    `loss to ${address} measured ${percent(loss.rate)} (${loss.lost} of ${loss.sent} attempts to ports that ` +
    `answered before; at most ${percent(loss.upper)})`
  );
}

/** The evidence a silent result carries: its attempts and the loss they were judged against. */
export function silenceEvidence(
  address: string,
  attempts: number,
  rounds: number,
  judgement: SilenceJudgement,
): Record<string, unknown> {
  if (judgement.kind === 'unmeasured') {
    return { attempts, rounds, loss: null, loss_note: `nothing sent to ${address} answered in this run` };
  }
  const { loss, needed } = judgement;
  return {
    attempts,
    rounds,
    loss: Number.isNaN(loss.rate) ? null : round4(loss.rate),
    loss_upper: round4(loss.upper),
    loss_probes: { sent: loss.sent, lost: loss.lost },
    attempts_needed: Number.isFinite(needed) ? needed : null,
    bound: SILENCE_BOUND,
  };
}

function round4(share: number): number {
  return Math.round(share * 10_000) / 10_000;
}
