import type { ProbeKind, ProbeSpec } from '../core/probe-kind.js';
import type { ProbeResult } from '../core/result.js';
import type { PlanList } from '../core/runner.js';
import type { RoundRunner } from '../core/silence-rounds.js';
import type { IcmpListener } from './icmp-listener.js';

// The sweep engine's dispatch (issue 12): of the probes a round runs, those that prove a TCP port's state only (a
// sweep's, `probe tcp HOST:1-65535`, a profile's `sweep:`) go to the native engine (native/sweep.c through
// src/net/sweep-native.ts), the rest to the JavaScript runner. This module stays light: the engine and its addon
// load only when a round has probes for it, so a one-port probe's cold start does not pay for them.

/** Where probes of the engine run. */
export interface SweepSetting {
  icmp: IcmpListener | null;
  icmpNote: string | undefined;
  concurrency: number;
  /** In flight for SYN mode, which holds no socket per probe (default: concurrency). */
  synConcurrency?: number;
  ratePerSecond?: number;
  /** The series the run belongs to (RoundPace.series): SYN mode shares one key across its runs. */
  series?: object;
}

/** A round needs at least this many state-only probes for the engine: a single probe runs on the JavaScript path. */
const MIN_ENGINE_PROBES = 2;

/** The scan mode a probe would run in the engine, or undefined when only its kind's observe() can run it. */
export function engineScan(spec: ProbeSpec, kind: ProbeKind): 'connect' | 'syn' | 'auto' | undefined {
  if (spec.unresolved !== undefined || spec.target.address === null || spec.target.port === null) return undefined;
  return kind.stateOnlyScan?.(spec);
}

/**
 * A round runner that hands the state-only TCP probes of each round to the native engine and the rest to
 * `fallback`, the JavaScript runner (which also runs everything when the engine is not built or is switched off).
 */
export function withSweepEngine(
  fallback: RoundRunner,
  kindOf: (name: string) => ProbeKind,
  setting: SweepSetting,
): RoundRunner {
  return async (specs, onResult, pace) => {
    // Look only as far as the engine's first probes: the engine reads the whole round itself.
    let found = 0;
    for (let index = 0; index < specs.length && found < MIN_ENGINE_PROBES; index += 1) {
      const spec = specs.at(index)!;
      if (engineScan(spec, kindOf(spec.kind)) !== undefined) found += 1;
    }
    if (found < MIN_ENGINE_PROBES) return fallback(specs, onResult, pace);
    const { runOnEngine } = await import('./sweep-native.js');
    if (!pace) return runOnEngine(specs, kindOf, setting, fallback, onResult);
    // A run with its own pace (the silence rounds' loss probes and retries): the engine and the rest keep to it.
    const paced: SweepSetting = {
      ...setting,
      concurrency: pace.concurrency,
      synConcurrency: pace.socketless ?? pace.concurrency,
      ratePerSecond: pace.ratePerSecond,
      // Only a run of the series takes its key: loss probes (paced, no series) have keys of their own.
      series: pace.series,
    };
    return runOnEngine(specs, kindOf, paced, (part, each) => fallback(part, each, pace), onResult);
  };
}

/** The probes of `specs` at `indexes`, as a plan of their own. */
export function subPlan(specs: PlanList, indexes: readonly number[]): PlanList {
  return { length: indexes.length, at: (i) => specs.at(indexes[i]!) };
}

/** A round's results for a sub-plan, reported with their indexes in the whole round. */
export function reindexed(
  indexes: readonly number[],
  onResult: (result: ProbeResult, index: number) => void,
): (result: ProbeResult, index: number) => void {
  return (result, index) => onResult(result, indexes[index]!);
}
