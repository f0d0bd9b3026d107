import type { ProbeKind, ProbeSpec } from '../core/probe-kind.js';
import type { ProbeResult } from '../core/result.js';
import { eachProbe, runPlan, type PlanList, type RunnerOptions } from '../core/runner.js';
import { SilenceRounds, type RoundPace, type RoundRunner } from '../core/silence-rounds.js';
import { monotonicMs } from '../core/clock.js';
import { startIcmpListener } from '../net/icmp-listener.js';
import { subPlan, withSweepEngine } from '../net/sweep-engine.js';
import { socketBudget } from './fd-limit.js';

/** Probes in flight at once when the command or agent config does not say. */
export const DEFAULT_CONCURRENCY = 256;

/** Where a run's warnings go: the CLI writes them to stderr, the agent to its log. */
export type RunWarning = (message: string) => void;

/** How a command wants its plan run. */
export interface ExecuteOptions {
  concurrency: number;
  ratePerSecond?: number;
  onResult?: (result: ProbeResult, index: number) => void;
  /** Keep and return results (default); false when onResult streams them. */
  retain?: boolean;
  /** Told what the run changed on its own, e.g. concurrency lowered to the open-files limit. */
  warn: RunWarning;
}

/**
 * Run a plan with the ICMP listener open for its duration and concurrency within the open-files
 * limit. Named rows start before sweeps, and a sweep starts only once no named row needs the host
 * any more: each has settled or only waits on silence (its connect, datagram or echo is out and
 * nothing answered; ProbeContext.waiting). On a busy host a thousand sweep probes in flight would
 * otherwise starve a TLS handshake of the row that matters past its deadline; a row that merely
 * waits out its deadline needs nothing. The sweep then keeps in flight what the named rows leave
 * of the concurrency. Silent probes are then retried in rounds until the path's measured loss
 * cannot explain their silence.
 */
export async function executePlan(
  plan: PlanList,
  kindOf: (name: string) => ProbeKind,
  options: ExecuteOptions,
): Promise<ProbeResult[]> {
  const budget = socketBudget();
  if (options.concurrency > budget) {
    options.warn(
      `--concurrency ${options.concurrency} is above what the open-files limit allows; ` +
        `using ${budget} (raise it with ulimit -n)`,
    );
  }
  const { phases, probing } = await prepare(plan, kindOf);
  const retain = options.retain !== false;
  const results = new Array<ProbeResult>(retain ? plan.length : 0);
  const concurrency = Math.min(options.concurrency, budget);
  const icmp = probing ? startIcmpListener() : { listener: null, note: undefined };
  const runJs: RoundRunner = (specs, onResult, pace) => {
    const ratePerSecond = pace ? pace.ratePerSecond : options.ratePerSecond;
    return runPlan(
      specs,
      kindOf,
      { icmp: icmp.listener, icmpNote: icmp.note },
      {
        concurrency: pace?.concurrency ?? concurrency,
        ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
        onResult,
        retain: false,
      },
    );
  };
  // The first pass and the silence rounds' retry copies: one series (SYN mode: one key, so that a late answer to an
  // earlier attempt of a port counts for the copy that now probes it).
  const series = {};
  // The probes of a round that prove a TCP port's state only run on the sweep engine; the rest on runPlan.
  const run = withSweepEngine(runJs, kindOf, {
    icmp: icmp.listener,
    icmpNote: icmp.note,
    concurrency,
    series,
    ...(options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond }),
  });
  const rounds = new SilenceRounds(
    (result, index) => {
      if (retain) results[index] = result;
      options.onResult?.(result, index);
    },
    (index) => plan.at(index)!,
    {
      run,
      concurrency,
      budget,
      series,
      ...(options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond }),
      // Loss probes to an answering port prove only that it answers: the cheapest probe of it that tells so.
      trialOf: (spec) => kindOf(spec.kind).lossTrial?.(spec),
      // SYN mode (or auto, which may run as SYN) on the sweep engine matches an answer by address and port within one
      // run, not by probe (each run has source ports and a key of its own: runs never share an answer).
      sharesAnswers: (spec) => {
        const scan = kindOf(spec.kind).stateOnlyScan?.(spec);
        return scan === 'syn' || scan === 'auto';
      },
    },
  );
  const pace = (inFlight: number): RoundPace => ({
    concurrency: inFlight,
    series,
    ...(options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond }),
  });
  const take =
    (indexes: number[]) =>
    (result: ProbeResult, index: number): void =>
      rounds.take(result, indexes[index]!);
  try {
    if (!phases) {
      // One phase (no sweep beside named rows, or only sweeps) runs the plan as it is, made spec by spec.
      await run(plan, (result, index) => rounds.take(result, index));
    } else {
      const context = { icmp: icmp.listener, icmpNote: icmp.note };
      const runNamed = (part: PlanList, onResult: (result: ProbeResult, index: number) => void, onBusy: Busy) =>
        runPlan(part, kindOf, context, { ...pace(concurrency), onResult, retain: false, onBusy });
      await runPhases(phases, plan, { runNamed, run, take, pace, concurrency });
    }
    // Silence proves a block only once the loss measured on the way cannot explain it (src/core/path-loss.ts).
    await rounds.settle();
  } finally {
    icmp.listener?.close();
  }
  return results;
}

type Busy = RunnerOptions['onBusy'];
type Take = (indexes: number[]) => (result: ProbeResult, index: number) => void;

/** What the two phases run with. */
interface PhaseRunners {
  /** The named rows, on the JavaScript runner: it hears each probe say it waits (the engine would not). */
  runNamed: (part: PlanList, onResult: (result: ProbeResult, index: number) => void, onBusy: Busy) => Promise<unknown>;
  /** The sweep: the engine for the state-only TCP probes, the JavaScript runner for the rest. */
  run: RoundRunner;
  take: Take;
  pace: (inFlight: number) => RoundPace;
  concurrency: number;
}

/**
 * Named rows first; the sweep once none of them needs the host (each has settled or only waits on silence), in two
 * lanes within the concurrency: one beside the waiting named rows in the slots they leave, and one in the slots they
 * hand back when done, which takes the sweep's tail when that ends the sweep sooner (sweepShare).
 */
async function runPhases(phases: Phases, plan: PlanList, runners: PhaseRunners): Promise<void> {
  const { named, sweeps, namedTimeoutMs, sweepTimeoutMs } = phases;
  const { run, take, pace, concurrency } = runners;
  const started = monotonicMs();
  let quiet: (inFlight: number) => void = () => {};
  const namedQuiet = new Promise<number>((resolve) => (quiet = resolve));
  const namedDone = runners.runNamed(subPlan(plan, named), take(named), (busy, inFlight) => {
    if (busy === 0) quiet(inFlight);
  });
  // Settles at the latest when the named rows are done (busy 0, none in flight); a fault ends the run.
  let left = await Promise.race([namedQuiet, namedDone.then(() => 0)]);
  // Waiting rows that fill every slot leave the sweep none: it starts when they are done.
  if (left >= concurrency) left = await namedDone.then(() => 0);
  const slots = concurrency - left;
  // Two lanes would each keep to --rate: with a rate, one lane.
  const freeInMs = Math.max(0, namedTimeoutMs - (monotonicMs() - started));
  const share =
    pace(1).ratePerSecond === undefined
      ? sweepShare(sweeps.length, slots, left, sweepTimeoutMs, freeInMs)
      : sweeps.length;
  const first = share === sweeps.length ? sweeps : sweeps.slice(0, share);
  const lanes = [namedDone, run(subPlan(plan, first), take(first), pace(slots))];
  if (share < sweeps.length) {
    const tail = sweeps.slice(share);
    lanes.push(namedDone.then(() => run(subPlan(plan, tail), take(tail), pace(left))));
  }
  await Promise.all(lanes);
}

/**
 * How many of a sweep's `count` probes the lane beside the waiting named rows takes, in its `slots`; the rest go to
 * the lane of the `left` slots the named rows hand back, at the latest in `freeInMs`. Chosen so that both lanes end
 * soonest when every probe waits out its `windowMs` (a silent sweep, the slowest: answers only end it sooner): the
 * first lane takes whole waves, the second the tail when that ends the sweep sooner than one more wave would.
 */
export function sweepShare(count: number, slots: number, left: number, windowMs: number, freeInMs: number): number {
  let best = count;
  let bestEnd = Math.ceil(count / slots) * windowMs;
  if (left <= 0) return count;
  for (let waves = Math.ceil(count / slots) - 1; waves >= 0; waves -= 1) {
    const share = waves * slots;
    const end = Math.max(waves * windowMs, freeInMs + Math.ceil((count - share) / left) * windowMs);
    if (end < bestEnd) {
      best = share;
      bestEnd = end;
    }
  }
  return best;
}

/** The plan's named rows and sweeps, with the longest deadline of each. */
interface Phases {
  named: number[];
  sweeps: number[];
  namedTimeoutMs: number;
  sweepTimeoutMs: number;
}

/**
 * Look through the plan once: let each kind load what its probes need before the first deadline starts, see
 * whether anything is sent at all, and split the phases: named rows and sweeps (undefined: one phase, the plan).
 */
async function prepare(
  plan: PlanList,
  kindOf: (name: string) => ProbeKind,
): Promise<{ phases: Phases | undefined; probing: boolean }> {
  const seen = new Set<unknown>();
  const loads: Array<Promise<unknown>> = [];
  const named: number[] = [];
  const sweeps: number[] = [];
  let probing = false;
  let last: ProbeSpec | undefined;
  let namedTimeoutMs = 0;
  let sweepTimeoutMs = 0;
  eachProbe(plan, (index, spec) => {
    (spec.sweep ? sweeps : named).push(index);
    // The probes of a port run share their spec here: the rest is the same for each.
    if (spec === last) return;
    last = spec;
    if (spec.sweep) sweepTimeoutMs = Math.max(sweepTimeoutMs, spec.timeoutMs);
    else namedTimeoutMs = Math.max(namedTimeoutMs, spec.timeoutMs);
    if (!spec.unresolved) probing = true;
    if (seen.has(spec.options)) return;
    seen.add(spec.options);
    const load = kindOf(spec.kind).prepare?.(spec.options);
    if (load) loads.push(load);
  });
  await Promise.all(loads);
  const phases = named.length > 0 && sweeps.length > 0 ? { named, sweeps, namedTimeoutMs, sweepTimeoutMs } : undefined;
  return { phases, probing };
}
