import type { ProbeContext, ProbeKind, ProbeSpec, ResolvedProbeSpec } from './probe-kind.js';
import type { Observation, ProbeResult } from './result.js';
import { blockedModeReason, judge } from './verdict.js';
import { RateLimit } from './rate-limit.js';
import { formatMs } from './duration.js';

/** How a plan is run. */
export interface RunnerOptions {
  /** Probes in flight at once. */
  concurrency: number;
  /** Probe starts per second, when limited. */
  ratePerSecond?: number;
  /** Called as each result is ready, in completion order. */
  onResult?: (result: ProbeResult, index: number) => void;
  /** Keep results to return them (default); a caller that streams them through onResult need not. */
  retain?: boolean;
}

/** How long past its deadline a probe may take to settle before the runner gives up on it. */
const GRACE_MS = 500;

/** The abort reason at a deadline: abort() without a reason builds a DOMException with a stack, for every probe. */
export const DEADLINE = 'deadline';

/** A plan as the runner reads it: an array, or a list that makes each spec when asked (a sweep of 65,535 ports). */
export interface PlanList {
  readonly length: number;
  at(index: number): ProbeSpec | undefined;
}

/** Run every probe of a plan with bounded concurrency; results come back in plan order (none when not retained). */
export async function runPlan(
  plan: PlanList,
  kindOf: (name: string) => ProbeKind,
  context: Omit<ProbeContext, 'signal'>,
  options: RunnerOptions,
): Promise<ProbeResult[]> {
  const retain = options.retain !== false;
  const total = plan.length;
  const results = new Array<ProbeResult>(retain ? total : 0);
  const rate = options.ratePerSecond ? new RateLimit(options.ratePerSecond) : undefined;
  const onResult = options.onResult;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const index = next++;
      const spec = plan.at(index) as ProbeSpec;
      if (rate && !spec.unresolved) await rate.take();
      const result = await runOne(spec, kindOf(spec.kind), context);
      if (retain) results[index] = result;
      if (onResult) onResult(result, index);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, total));
  // Every refused or failed connect makes an Error, and capturing its stack costs more than the connect.
  // The runner keeps only messages (a probe's failure is data), so no stack is captured while it runs.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  return results;
}

/** Run one probe under its deadline and judge it. */
export function runOne(spec: ProbeSpec, kind: ProbeKind, context: Omit<ProbeContext, 'signal'>): Promise<ProbeResult> {
  const startedAt = isoNow();
  if (spec.unresolved) {
    const reason = `name not resolved: ${spec.unresolved}`;
    return Promise.resolve(resultOf(spec, startedAt, { state: 'unresolved', reason, attempts: 0 }));
  }
  const resolved = resolvedSpec(spec);
  if (!resolved) {
    const reason = `internal fault: the ${spec.kind} probe ${spec.id} came without an address`;
    return Promise.resolve(resultOf(spec, startedAt, { state: 'error', reason, attempts: 0 }));
  }
  return observeWithDeadline(resolved, kind, context).then((observation) => resultOf(spec, startedAt, observation));
}

/** The result of a probe: its spec, what was observed, and the verdict; keys in the order reports show them. */
export function resultOf(spec: ProbeSpec, startedAt: string, observation: Observation): ProbeResult {
  const result = { id: spec.id } as ProbeResult;
  if (spec.row !== undefined) result.row = spec.row;
  result.kind = spec.kind;
  result.target = spec.target;
  result.expect = spec.expect;
  const mode = spec.expect === 'blocked' ? (spec.blocked ?? 'any') : 'any';
  if (mode !== 'any') result.blocked = mode;
  result.state = observation.state;
  if (observation.check) result.check = observation.check;
  result.verdict = judge(
    spec.expect,
    observation.state,
    observation.check,
    observation.silenceExpected,
    mode,
    observation.icmp,
  );
  result.reason = blockedModeReason(mode, observation.state, observation.reason, observation.icmp);
  if (observation.rtt_ms !== undefined) result.rtt_ms = round3(observation.rtt_ms);
  result.attempts = observation.attempts;
  if (observation.icmp) result.icmp = observation.icmp;
  result.started_at = startedAt;
  if (observation.evidence) result.evidence = observation.evidence;
  if (spec.control) result.control = spec.control;
  if (spec.confirm) result.confirm = spec.confirm;
  if (spec.note) result.note = spec.note;
  return result;
}

let isoMs = -1;
let isoText = '';

/** Now as an ISO 8601 string; probes starting in the same millisecond share one. */
function isoNow(): string {
  return isoAt(Date.now());
}

/** A time (ms since the epoch) as an ISO 8601 string; times in the same millisecond share one. */
export function isoAt(time: number): string {
  const ms = Math.floor(time);
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** The spec with its target's address and port as the probe sends to them; undefined when it has no address. */
function resolvedSpec(spec: ProbeSpec): ResolvedProbeSpec | undefined {
  const { address, port } = spec.target;
  if (address === null) return undefined;
  // A spec with both is already resolved: no copy per probe.
  if (port !== null) return spec as ResolvedProbeSpec;
  return { ...spec, target: { ...spec.target, address, port: 0 } };
}

/**
 * Observe under the deadline: the kind's observation, or an internal fault when it throws or does not settle
 * within a grace period after the abort. One promise, settled once; every timer is cleared.
 */
function observeWithDeadline(
  spec: ResolvedProbeSpec,
  kind: ProbeKind,
  context: Omit<ProbeContext, 'signal'>,
): Promise<Observation> {
  return new Promise<Observation>((resolve) => {
    const controller = new AbortController();
    let done = false;
    let lastTurn: NodeJS.Immediate | undefined;
    let giveUp: NodeJS.Timeout | undefined;
    const finish = (observation: Observation): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      if (lastTurn) clearImmediate(lastTurn);
      if (giveUp) clearTimeout(giveUp);
      resolve(observation);
    };
    const fault = (error: unknown): void =>
      finish({
        state: 'error',
        reason: `internal fault in the ${spec.kind} probe: ${messageOf(error)}`,
        attempts: spec.attempts,
      });
    // Abort one turn after the deadline: an answer already waiting in a socket is read first (I/O is polled
    // before setImmediate runs), so an event loop that stalled past the deadline cannot turn a queued reset into
    // silence. The grace for settling starts at the abort itself: a stalled loop must not fire it in that turn.
    const deadline = setTimeout(() => {
      lastTurn = setImmediate(() => {
        controller.abort(DEADLINE);
        if (done) return;
        giveUp = setTimeout(
          () =>
            finish({
              state: 'error',
              reason: `internal fault: the ${spec.kind} probe did not settle within its ${formatMs(spec.timeoutMs)} deadline`,
              attempts: spec.attempts,
            }),
          GRACE_MS,
        );
      });
    }, spec.timeoutMs);
    try {
      kind
        .observe(spec, { icmp: context.icmp, icmpNote: context.icmpNote, signal: controller.signal })
        .then(finish, fault);
    } catch (error) {
      fault(error);
    }
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Wrap a result callback so that results reach it in plan order, each as soon as all before it are done. */
export function inPlanOrder(deliver: (result: ProbeResult) => void): (result: ProbeResult, index: number) => void {
  const waiting = new Map<number, ProbeResult>();
  let next = 0;
  return (result, index) => {
    waiting.set(index, result);
    for (let ready = waiting.get(next); ready !== undefined; ready = waiting.get(next)) {
      waiting.delete(next);
      next += 1;
      deliver(ready);
    }
  };
}
