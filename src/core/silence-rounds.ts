import type { ProbeSpec } from './probe-kind.js';
import type { ProbeResult } from './result.js';
import type { PlanList } from './runner.js';
import {
  describeLoss,
  judgeSilence,
  MAX_SILENT_ATTEMPTS,
  PathLoss,
  silenceEvidence,
  type SilenceJudgement,
} from './path-loss.js';

/** Runs specs once each and reports each result with its index in `specs`: the runner, in whatever mode. */
export type RoundRunner = (specs: PlanList, onResult: (result: ProbeResult, index: number) => void) => Promise<unknown>;

/** Loss probes per address and round: at least this many, so that few silent ports still get a measure. */
const MIN_LOSS_PROBES = 8;
/** At most this many loss probes per address and round, to closed ports (a reset costs the target nothing). */
const MAX_LOSS_PROBES = 256;
/** At most this many per address and round when only open ports answered: each is a connection to a service. */
const MAX_LOSS_PROBES_OPEN = 32;
/** Answering ports remembered per address, to spread the loss probes over. */
const MAX_ANSWERING = 256;

/** A silent result waiting for its next round. */
interface Held {
  index: number;
  spec: ProbeSpec;
  first: ProbeResult;
  attempts: number;
  rounds: number;
}

/** Ports of one address that answered: where loss probes go (closed ports first: a reset costs the target nothing). */
interface Answering {
  closed: ProbeSpec[];
  open: ProbeSpec[];
  next: number;
}

/**
 * Silence is retried before it proves anything. Results of a plan's first pass come in through `take`:
 * answers go out at once, silent results wait. `settle` then re-probes the silent ones in rounds, each
 * round with loss probes to ports of the same address that answered, until the measured loss cannot
 * explain the silence (then filtered), or the attempts reach their cap (then a negative probe is
 * inconclusive, naming the loss). Mode-independent: it sees results, not sockets.
 */
export class SilenceRounds {
  private readonly loss = new PathLoss();
  private readonly answering = new Map<string, Answering>();
  private held: Held[] = [];

  /**
   * `specAt` gives the spec of a plan index: asked only for the results that need it (silent, or an answering port
   * to remember), so a sweep's answered ports cost no second spec each.
   */
  constructor(
    private readonly deliver: (result: ProbeResult, index: number) => void,
    private readonly specAt: (index: number) => ProbeSpec,
  ) {}

  /** A result of the first pass, for plan index `index`. */
  take(result: ProbeResult, index: number): void {
    if (isSilent(result)) {
      this.held.push({ index, spec: this.specAt(index), first: result, attempts: result.attempts, rounds: 1 });
      return;
    }
    this.remember(index, result);
    this.deliver(result, index);
  }

  /** Re-probe the silent results in rounds until each is judged, then deliver them. */
  async settle(run: RoundRunner): Promise<void> {
    for (let round = 2; this.held.length > 0; round += 1) {
      const again = this.judgeHeld();
      if (again.length === 0) return;
      const lossProbes = this.lossProbes(again);
      const specs = [...again.map((held) => held.spec), ...lossProbes];
      await run(specs, (result, index) => {
        if (index >= again.length) {
          const address = lossProbes[index - again.length]!.target.address!;
          if (isAnswer(result)) this.loss.trial(address, true);
          else if (result.state === 'filtered') this.loss.trial(address, false);
          return;
        }
        const held = again[index]!;
        held.attempts += result.attempts;
        held.rounds = round;
        if (isSilent(result)) this.held.push(held);
        else this.answeredLate(held, result);
      });
    }
  }

  /** Judge every held result against its address's loss: deliver the settled, return those for another round. */
  private judgeHeld(): Held[] {
    const silentPorts = new Map<string, number>();
    for (const held of this.held) {
      const address = held.spec.target.address!;
      silentPorts.set(address, (silentPorts.get(address) ?? 0) + 1);
    }
    const again: Held[] = [];
    for (const held of this.held) {
      const address = held.spec.target.address!;
      const loss = this.answering.has(address) ? this.loss.measure(address) : undefined;
      const judgement = judgeSilence(loss, held.attempts, silentPorts.get(address)!, held.spec.attempts);
      if (judgement.kind === 'retry') again.push(held);
      else this.deliver(settled(held, judgement), held.index);
    }
    this.held = [];
    return again;
  }

  /** This round's loss probes: for each address, one per silent port (within bounds), to ports that answered. */
  private lossProbes(again: readonly Held[]): ProbeSpec[] {
    const silentPorts = new Map<string, number>();
    for (const held of again) {
      const address = held.spec.target.address!;
      silentPorts.set(address, (silentPorts.get(address) ?? 0) + 1);
    }
    const probes: ProbeSpec[] = [];
    for (const [address, silent] of silentPorts) {
      const ports = this.answering.get(address)!;
      const closed = ports.closed.length > 0;
      const targets = closed ? ports.closed : ports.open;
      const count = Math.min(closed ? MAX_LOSS_PROBES : MAX_LOSS_PROBES_OPEN, Math.max(MIN_LOSS_PROBES, silent));
      for (let i = 0; i < count; i += 1) {
        const spec = targets[ports.next++ % targets.length]!;
        // One attempt in the window one attempt of the spec has: a trial of exactly one attempt.
        probes.push({ ...spec, attempts: 1, timeoutMs: Math.max(1, Math.round(spec.timeoutMs / spec.attempts)) });
      }
    }
    return probes;
  }

  /** A held probe answered in a later round: it goes out with all its attempts, and its port can take loss probes. */
  private answeredLate(held: Held, result: ProbeResult): void {
    this.remember(held.spec, result);
    this.deliver({ ...result, attempts: held.attempts, started_at: held.first.started_at }, held.index);
  }

  /** An answering port (its spec, or its plan index) for the loss probes of its address. */
  private remember(spec: ProbeSpec | number, result: ProbeResult): void {
    // The result's target is its spec's.
    const address = result.target.address;
    if (address === null || !isAnswer(result)) return;
    let ports = this.answering.get(address);
    if (!ports) this.answering.set(address, (ports = { closed: [], open: [], next: 0 }));
    const list = result.state === 'closed' ? ports.closed : ports.open;
    if (list.length < MAX_ANSWERING) list.push(typeof spec === 'number' ? this.specAt(spec) : spec);
  }
}

/** The port answered: a handshake or a reset, from the target itself. */
function isAnswer(result: ProbeResult): boolean {
  return result.state === 'open' || result.state === 'closed';
}

/** Silence that would count (a kind whose protocol never answers is inconclusive already). */
function isSilent(result: ProbeResult): boolean {
  return result.state === 'filtered' && result.verdict !== 'inconclusive' && result.target.address !== null;
}

/** The final result of a silent probe, judged against the measured loss. */
function settled(held: Held, judgement: SilenceJudgement): ProbeResult {
  const { first, attempts, rounds } = held;
  const address = first.target.address!;
  const evidence = { ...first.evidence, silence: silenceEvidence(address, attempts, rounds, judgement) };
  const result: ProbeResult = { ...first, attempts, evidence };
  if (judgement.kind === 'unmeasured') return result;
  const tried = `silent to ${attempts} attempts in ${rounds} ${rounds === 1 ? 'round' : 'rounds'}`;
  const loss = describeLoss(address, judgement.loss);
  if (judgement.kind === 'proven') {
    const lossy = first.expect === 'reachable' && judgement.loss.lost > 0 ? '; the path is lossy' : '';
    return { ...result, reason: `${first.reason}; ${tried}, ${loss}${lossy}` };
  }
  const needed = Number.isFinite(judgement.needed) ? `${judgement.needed}` : 'more';
  return {
    ...result,
    verdict: first.expect === 'blocked' ? 'inconclusive' : first.verdict,
    reason:
      `${first.reason}; ${tried}, but ${judgement.loss.lost > 0 ? 'the path is lossy' : 'loss is not ruled out'}: ` +
      `${loss}, so loss may explain the silence ` +
      `(${needed} attempts needed, at most ${Math.max(MAX_SILENT_ATTEMPTS, held.spec.attempts)})`,
  };
}
