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

/** How one run of probes may go: at most `concurrency` in flight, at most `ratePerSecond` started per second. */
export interface RoundPace {
  concurrency: number;
  /** In flight for probes that hold no socket each (SYN mode), when more than `concurrency`. */
  socketless?: number;
  ratePerSecond?: number;
  /**
   * The plan's retries: the same object for its first pass and every retry copy (never for loss probes). A runner
   * that matches answers by a key (SYN mode) may share one key across the runs of a series, so that a late answer to
   * an earlier attempt of a port (the target's SYN-ACK retransmission) counts for the run that now probes it; loss
   * probes never take part, since a late answer counted for a later probe would read the loss lower than it is.
   */
  series?: object;
}

/**
 * Runs specs once each and reports each result with its index in `specs`: the runner, in whatever mode. `pace`
 * replaces the run's concurrency and rate for this call (the loss probes' and the retry rounds' own).
 */
export type RoundRunner = (
  specs: PlanList,
  onResult: (result: ProbeResult, index: number) => void,
  pace?: RoundPace,
) => Promise<unknown>;

/** What the rounds run with. */
export interface SilenceSetting {
  run: RoundRunner;
  /** The run's concurrency: what its first pass keeps in flight. */
  concurrency: number;
  /** Sockets the process may hold at once (the open-files budget, src/run/fd-limit.ts); Infinity when unknown. */
  budget: number;
  /** The run's rate limit, if it has one: nothing of the rounds starts faster. */
  ratePerSecond?: number;
  /**
   * The cheapest probe of an answering port that still tells an answer from a loss (a kind's lossTrial: for tcp, a
   * bare connect or SYN without TLS or request), or undefined when the kind has none: the port's own probe then, and
   * only a round's worth of them in the first pass (a service may rate-limit its answers, an ICMP error its kernel).
   */
  trialOf?: (spec: ProbeSpec) => ProbeSpec | undefined;
  /**
   * Whether probes of one port in flight at once share an answer (SYN mode matches an answer by address and port,
   * not by probe): such a port then never has two of the rounds' probes in flight at once.
   */
  sharesAnswers?: (spec: ProbeSpec) => boolean;
  /** The series of the plan's first pass (see RoundPace.series): the retry copies run in it too. */
  series?: object;
}

/** Loss probes per address and round: at least this many, so that few silent ports still get a measure. */
const MIN_LOSS_PROBES = 8;
/** At most this many loss probes per address and round, to closed ports (a reset costs the target nothing). */
const MAX_LOSS_PROBES = 256;
/** At most this many per address and round when only open ports answered: each is a connection to a service. */
const MAX_LOSS_PROBES_OPEN = 32;
/**
 * Loss probes per address during the first pass, sent as soon as the address has a silent port and an answering
 * one: twice its silent ports, at least this many (and then the measure counts as settled: see MATURE) ...
 */
const EARLY_MIN = 64;
/** ... at most this many to closed ports ... */
const EARLY_MAX = 2048;
/** ... and at most this many when only open ports answered (each a connection to a service; see the pace below). */
const EARLY_MAX_OPEN = 512;
/** Loss probes in flight to one address at once (and no more than the run's concurrency): to closed ports ... */
const IN_FLIGHT = 256;
/** ... and to open ports, which are also paced to at most OPEN_RATE per second. */
const IN_FLIGHT_OPEN = 32;
const OPEN_RATE = 500;
/** Loss probes sent in one run of the runner: a measure that is no longer needed stops after at most this many. */
const CHUNK = 2;
/** Loss probes back from an address before its measure may set a round's attempts (fewer: one attempt a round). */
const MATURE = EARLY_MIN;
/** A retry round keeps up to this many times the run's concurrency in flight (silent connects cost the target nothing). */
const ROUND_CONCURRENCY = 16;
/** A round starts its probes over this share of one attempt's window, copy after copy, so a port's attempts spread. */
const SPREAD = 0.25;
/** Answering ports remembered per address, to spread the loss probes over. */
const MAX_ANSWERING = 256;

/** A silent result waiting for its next round. */
interface Held {
  index: number;
  /** Its spec, made when a round or a reason needs it (a silent port whose address nothing answered needs none). */
  spec: ProbeSpec | undefined;
  first: ProbeResult;
  attempts: number;
  rounds: number;
}

/** Ports of one address that answered, as loss probes (closed ports first: a reset costs the target nothing). */
interface Sampler {
  closed: ProbeSpec[];
  open: ProbeSpec[];
  /** Whether each list holds ports whose loss probe is their own probe (no cheap trial): then it holds only such. */
  dearClosed: boolean;
  dearOpen: boolean;
  next: number;
  /** Loss probes granted: the early measure's and each round's. */
  early: number;
  extra: number;
  issued: number;
  running: Promise<void> | undefined;
}

/**
 * Silence is retried before it proves anything. Results of a plan's first pass come in through `take`: answers go
 * out at once, silent results wait. As soon as an address has both a silent port and one that answered, loss probes
 * (one attempt each to an answering port) measure its loss beside the first pass. `settle` then re-probes the
 * silent ones: a round adds the attempts the rule still needs (src/core/path-loss.ts), all in one round, until the
 * measured loss cannot explain the silence (then filtered) or the attempts reach their cap (then a negative probe is
 * inconclusive, naming the loss). Mode-independent: it sees results, not sockets (docs/silence.md).
 */
export class SilenceRounds {
  private readonly loss = new PathLoss();
  private readonly samplers = new Map<string, Sampler>();
  /** Silent ports per address in the first pass: what the early measure is sized by. */
  private readonly silent = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private held: Held[] = [];
  private closing = false;
  private fault: unknown;

  /**
   * `specAt` gives the spec of a plan index: asked only for the results that need it (silent, or an answering port
   * to remember), so a sweep's answered ports cost no second spec each.
   */
  constructor(
    private readonly deliver: (result: ProbeResult, index: number) => void,
    private readonly specAt: (index: number) => ProbeSpec,
    private readonly setting: SilenceSetting,
  ) {}

  /** A result of the first pass, for plan index `index`. */
  take(result: ProbeResult, index: number): void {
    if (isSilent(result)) {
      this.held.push({ index, spec: undefined, first: result, attempts: result.attempts, rounds: 1 });
      const address = result.target.address!;
      this.silent.set(address, (this.silent.get(address) ?? 0) + 1);
      this.measureEarly(address);
      return;
    }
    this.remember(index, result);
    this.deliver(result, index);
  }

  /** Re-probe the silent results in rounds until each is judged, then deliver them. */
  async settle(): Promise<void> {
    try {
      for (let round = 2; this.held.length > 0; round += 1) {
        const again = this.judgeHeld();
        if (again.length === 0) break;
        this.grantRoundProbes(again);
        await this.runRound(again, round);
      }
    } finally {
      this.closing = true;
      while (this.running.size > 0) await Promise.all(this.running);
    }
    if (this.fault !== undefined) throw this.fault instanceof Error ? this.fault : new Error(String(this.fault));
  }

  /** One retry round: each held probe's attempts to add, as copies of one attempt each, spread and side by side. */
  private async runRound(again: ReadonlyArray<{ held: Held; add: number }>, round: number): Promise<void> {
    // Copy-major order (every port's next attempt, then every port's one after), most attempts first: the round's
    // probes from offsets[j] to offsets[j + 1] are the (j + 1)-th attempts of the first ports of `order`.
    const order = [...again].sort((a, b) => b.add - a.add);
    const copies = order.map(({ held }) => oneAttempt(this.specOf(held)));
    const offsets: number[] = [];
    let total = 0;
    for (let j = 0; j < order[0]!.add; j += 1) {
      offsets.push(total);
      let count = 0;
      while (count < order.length && order[count]!.add > j) count += 1;
      total += count;
    }
    offsets.push(total);
    const heldAt = (index: number): number => {
      let j = 0;
      while (offsets[j + 1]! <= index) j += 1;
      return index - offsets[j]!;
    };
    const answered = new Uint8Array(order.length);
    const heard = (k: number, result: ProbeResult): void => {
      const { held } = order[k]!;
      if (answered[k]) return;
      held.attempts += result.attempts;
      if (isSilent(result)) return;
      answered[k] = 1;
      this.answeredLate(held, result);
    };
    if (order[0]!.add > 1 && copies.some((copy) => this.setting.sharesAnswers?.(copy))) {
      // Where one answer settles every probe of its port in flight (SYN mode matches answers by address and port), a
      // port's copies must not be in flight together: they would all count as answered, or all as lost, by one
      // packet. Copy after copy then, each a run of its own, to the ports still silent.
      for (let j = 0; j < order[0]!.add; j += 1) {
        const ports: number[] = [];
        for (let k = 0; k < offsets[j + 1]! - offsets[j]!; k += 1) if (!answered[k]) ports.push(k);
        if (ports.length === 0) break;
        await this.setting.run(
          { length: ports.length, at: (index) => copies[ports[index]!] },
          (result, index) => heard(ports[index]!, result),
          this.roundPace(ports.length, 1, copies),
        );
      }
    } else {
      await this.setting.run(
        { length: total, at: (index) => copies[heldAt(index)] },
        (result, index) => heard(heldAt(index), result),
        this.roundPace(total, order[0]!.add, copies),
      );
    }
    for (let k = 0; k < order.length; k += 1) {
      const { held } = order[k]!;
      held.rounds = round;
      if (!answered[k]) this.held.push(held);
    }
  }

  /**
   * A round's pace: up to ROUND_CONCURRENCY times the run's concurrency in flight, within the open-files budget (but
   * for SYN mode, which holds no socket per probe); when a port gets more than one attempt, the copies start over
   * SPREAD of the shortest window, so a port's attempts lie apart (loss may come in bursts) while the round still
   * takes little more than one window.
   */
  private roundPace(total: number, most: number, copies: readonly ProbeSpec[]): RoundPace {
    const { concurrency, budget, ratePerSecond } = this.setting;
    const wanted = Math.max(1, concurrency, Math.min(total, concurrency * ROUND_CONCURRENCY));
    const inFlight = Math.max(1, Math.min(budget, wanted));
    let rate = ratePerSecond;
    if (most > 1) {
      let window = Infinity;
      for (const copy of copies) window = Math.min(window, copy.timeoutMs);
      const spread = Math.ceil((total * 1000) / Math.max(1, window * SPREAD));
      rate = rate === undefined ? spread : Math.min(rate, spread);
    }
    // SYN mode holds no socket per probe: the open-files budget does not bound it.
    const pace: RoundPace =
      wanted > inFlight ? { concurrency: inFlight, socketless: wanted } : { concurrency: inFlight };
    if (rate !== undefined) pace.ratePerSecond = rate;
    if (this.setting.series !== undefined) pace.series = this.setting.series;
    return pace;
  }

  /** Judge every held result against its address's loss: deliver the settled, return those for another round. */
  private judgeHeld(): Array<{ held: Held; add: number }> {
    const silentPorts = countByAddress(this.held);
    const again: Array<{ held: Held; add: number }> = [];
    // Unmeasured silence says the same of every port of an address with the same attempts and rounds: one object.
    let shared: { address: string; attempts: number; rounds: number; evidence: Record<string, unknown> } | undefined;
    for (const held of this.held) {
      const address = held.first.target.address!;
      const loss = this.samplers.has(address) ? this.loss.measure(address) : undefined;
      const judgement = judgeSilence(loss, held.attempts, silentPorts.get(address)!, 1);
      if (judgement.kind === 'unmeasured') {
        const { attempts, rounds } = held;
        if (shared?.address !== address || shared.attempts !== attempts || shared.rounds !== rounds)
          shared = { address, attempts, rounds, evidence: silenceEvidence(address, attempts, rounds, judgement) };
        this.deliver(settled(held, judgement, 0, shared.evidence), held.index);
        continue;
      }
      if (judgement.kind !== 'retry') {
        const configured = judgement.kind === 'unproven' ? this.specOf(held).attempts : 0;
        this.deliver(settled(held, judgement, configured), held.index);
        continue;
      }
      // A settled measure sets the attempts still needed, all in this round (at most up to the cap); an early one
      // (few loss probes back yet) one more attempt while it settles.
      const cap = Math.max(MAX_SILENT_ATTEMPTS, this.specOf(held).attempts);
      const target = judgement.loss.sent >= MATURE ? Math.min(judgement.needed, cap) : held.attempts + 1;
      again.push({ held, add: Math.max(1, target - held.attempts) });
    }
    this.held = [];
    return again;
  }

  /** Each round's loss probes: one per silent port of an address, within bounds, beside the round's attempts. */
  private grantRoundProbes(again: ReadonlyArray<{ held: Held }>): void {
    for (const [address, silent] of countByAddress(again.map(({ held }) => held))) {
      const sampler = this.samplers.get(address)!;
      const most = sampler.closed.length > 0 ? MAX_LOSS_PROBES : MAX_LOSS_PROBES_OPEN;
      sampler.extra += Math.min(most, Math.max(MIN_LOSS_PROBES, silent));
      this.pump(address, sampler);
    }
  }

  /** The first pass's loss probes to `address`, once it has a silent port and an answering one. */
  private measureEarly(address: string): void {
    const sampler = this.samplers.get(address);
    const silent = this.silent.get(address);
    if (!sampler || silent === undefined) return;
    const closed = sampler.closed.length > 0;
    const dear = closed ? sampler.dearClosed : sampler.dearOpen;
    const most = closed ? (dear ? MAX_LOSS_PROBES : EARLY_MAX) : dear ? MAX_LOSS_PROBES_OPEN : EARLY_MAX_OPEN;
    sampler.early = Math.max(sampler.early, Math.min(most, Math.max(EARLY_MIN, 2 * silent)));
    this.pump(address, sampler);
  }

  /** Send the loss probes granted to `address` and not yet sent: one run at a time, in chunks, at the address's pace. */
  private pump(address: string, sampler: Sampler): void {
    if (sampler.running || this.closing) return;
    const closed = sampler.closed.length > 0;
    const targets = closed ? sampler.closed : sampler.open;
    // Never more at once than the run's own concurrency, which may be low on purpose (a fragile firewall).
    const inFlight = Math.max(1, Math.min(closed ? IN_FLIGHT : IN_FLIGHT_OPEN, this.setting.concurrency));
    // Where answers are matched by port (SYN mode), a run holds each port once: two probes of one port in flight would
    // share one answer, and the loss would read lower than it is.
    const distinct = this.setting.sharesAnswers?.(targets[0]!) ? targets.length : Infinity;
    const count = Math.min(sampler.early + sampler.extra - sampler.issued, CHUNK * inFlight, distinct);
    if (count <= 0) return;
    sampler.issued += count;
    const probes: ProbeSpec[] = [];
    for (let i = 0; i < count; i += 1) probes.push(targets[sampler.next++ % targets.length]!);
    const rate = closed ? this.setting.ratePerSecond : Math.min(OPEN_RATE, this.setting.ratePerSecond ?? Infinity);
    const pace: RoundPace =
      rate === undefined ? { concurrency: inFlight } : { concurrency: inFlight, ratePerSecond: rate };
    const run = this.setting
      .run(
        probes,
        (result) => {
          if (isAnswer(result)) this.loss.trial(address, true);
          else if (result.state === 'filtered') this.loss.trial(address, false);
        },
        pace,
      )
      .then(
        () => undefined,
        (error: unknown) => {
          this.fault ??= error;
        },
      )
      .finally(() => {
        this.running.delete(run);
        sampler.running = undefined;
        if (this.fault === undefined) this.pump(address, sampler);
      });
    sampler.running = run;
    this.running.add(run);
  }

  /** A held probe answered in a later round: it goes out with all its attempts, and its port can take loss probes. */
  private answeredLate(held: Held, result: ProbeResult): void {
    this.remember(this.specOf(held), result);
    this.deliver({ ...result, attempts: held.attempts, started_at: held.first.started_at }, held.index);
  }

  /** A held result's spec, made once. */
  private specOf(held: Held): ProbeSpec {
    return (held.spec ??= this.specAt(held.index));
  }

  /** An answering port (its spec, or its plan index) for the loss probes of its address. */
  private remember(spec: ProbeSpec | number, result: ProbeResult): void {
    // The result's target is its spec's.
    const address = result.target.address;
    if (address === null || !isAnswer(result)) return;
    let sampler = this.samplers.get(address);
    if (!sampler) {
      sampler = {
        closed: [],
        open: [],
        dearClosed: false,
        dearOpen: false,
        next: 0,
        early: 0,
        extra: 0,
        issued: 0,
        running: undefined,
      };
      this.samplers.set(address, sampler);
    }
    const closed = result.state === 'closed';
    const list = closed ? sampler.closed : sampler.open;
    // A full list of cheap trials takes no more (a sweep's answered ports then cost no spec each).
    if (list.length >= MAX_ANSWERING && !(closed ? sampler.dearClosed : sampler.dearOpen)) return;
    const answering = typeof spec === 'number' ? this.specAt(spec) : spec;
    const trial = this.setting.trialOf?.(answering);
    // A list holds cheap trials, or else ports' own probes: a cheap one replaces those, and makes them needless.
    if (list.length > 0 && (closed ? sampler.dearClosed : sampler.dearOpen) !== !trial) {
      if (!trial) return;
      list.length = 0;
    }
    if (list.length >= MAX_ANSWERING) return;
    if (closed) sampler.dearClosed = !trial;
    else sampler.dearOpen = !trial;
    // One attempt in the window one attempt of the spec has: a trial of exactly one attempt.
    list.push(oneAttempt(trial ?? answering));
    this.measureEarly(address);
  }
}

/** The spec as one attempt in the window one attempt of it has. */
function oneAttempt(spec: ProbeSpec): ProbeSpec {
  if (spec.attempts === 1) return spec;
  return { ...spec, attempts: 1, timeoutMs: Math.max(1, Math.round(spec.timeoutMs / spec.attempts)) };
}

function countByAddress(held: readonly Held[]): Map<string, number> {
  const counts = new Map<string, number>();
  // A result's target is its spec's.
  for (const { first } of held) {
    const address = first.target.address!;
    counts.set(address, (counts.get(address) ?? 0) + 1);
  }
  return counts;
}

/** The port answered: a handshake or a reset, from the target itself. */
function isAnswer(result: ProbeResult): boolean {
  return result.state === 'open' || result.state === 'closed';
}

/** Silence that would count (a kind whose protocol never answers is inconclusive already). */
function isSilent(result: ProbeResult): boolean {
  return result.state === 'filtered' && result.verdict !== 'inconclusive' && result.target.address !== null;
}

/**
 * The final result of a silent probe, judged against the measured loss; `configured` is its spec's attempts (read
 * only when the judgement is `unproven`). The held first result is this probe's alone (it was never delivered): it
 * becomes the final one, keys in place, so a sweep's thousand silent ports cost no copy each. `unmeasured` is the
 * silence evidence to use for an unmeasured judgement, shared by the results of one address, attempts and rounds.
 */
function settled(
  held: Held,
  judgement: SilenceJudgement,
  configured: number,
  unmeasured?: Record<string, unknown>,
): ProbeResult {
  const { first, attempts, rounds } = held;
  const address = first.target.address!;
  const result = first;
  result.attempts = attempts;
  // The first evidence may be shared with other results (a memoized observation's): a new object, its keys first.
  result.evidence = { ...first.evidence, silence: unmeasured ?? silenceEvidence(address, attempts, rounds, judgement) };
  if (judgement.kind === 'unmeasured') return result;
  const tried = `silent to ${attempts} attempts in ${rounds} ${rounds === 1 ? 'round' : 'rounds'}`;
  const loss = describeLoss(address, judgement.loss);
  if (judgement.kind === 'proven') {
    const lossy = first.expect === 'reachable' && judgement.loss.lost > 0 ? '; the path is lossy' : '';
    result.reason = `${first.reason}; ${tried}, ${loss}${lossy}`;
    return result;
  }
  const needed = Number.isFinite(judgement.needed) ? `${judgement.needed}` : 'more';
  if (first.expect === 'blocked') result.verdict = 'inconclusive';
  result.reason =
    `${first.reason}; ${tried}, but ${judgement.loss.lost > 0 ? 'the path is lossy' : 'loss is not ruled out'}: ` +
    `${loss}, so loss may explain the silence ` +
    `(${needed} attempts needed, at most ${Math.max(MAX_SILENT_ATTEMPTS, configured)})`;
  return result;
}
