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

/** Run every probe of a plan with bounded concurrency; results come back in plan order (none when not retained). */
export async function runPlan(
  plan: readonly ProbeSpec[],
  kindOf: (name: string) => ProbeKind,
  context: Omit<ProbeContext, 'signal'>,
  options: RunnerOptions,
): Promise<ProbeResult[]> {
  const retain = options.retain !== false;
  const results = new Array<ProbeResult>(retain ? plan.length : 0);
  const rate = options.ratePerSecond ? new RateLimit(options.ratePerSecond) : undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plan.length) {
      const index = next++;
      const spec = plan[index] as ProbeSpec;
      if (rate && !spec.unresolved) await rate.take();
      const result = await runOne(spec, kindOf(spec.kind), context);
      if (retain) results[index] = result;
      options.onResult?.(result, index);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, plan.length));
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
export async function runOne(
  spec: ProbeSpec,
  kind: ProbeKind,
  context: Omit<ProbeContext, 'signal'>,
): Promise<ProbeResult> {
  const startedAt = new Date();
  const resolved = resolvedSpec(spec);
  const observation: Observation = spec.unresolved
    ? { state: 'unresolved', reason: `name not resolved: ${spec.unresolved}`, attempts: 0 }
    : resolved
      ? await observeWithDeadline(resolved, kind, context)
      : {
          state: 'error',
          reason: `internal fault: the ${spec.kind} probe ${spec.id} came without an address`,
          attempts: 0,
        };
  const mode = spec.expect === 'blocked' ? (spec.blocked ?? 'any') : 'any';
  return {
    id: spec.id,
    ...(spec.row === undefined ? {} : { row: spec.row }),
    kind: spec.kind,
    target: spec.target,
    expect: spec.expect,
    ...(mode === 'any' ? {} : { blocked: mode }),
    state: observation.state,
    ...(observation.check ? { check: observation.check } : {}),
    verdict: judge(
      spec.expect,
      observation.state,
      observation.check,
      observation.silenceExpected,
      mode,
      observation.icmp,
    ),
    reason: blockedModeReason(mode, observation.state, observation.reason, observation.icmp),
    ...(observation.rtt_ms === undefined ? {} : { rtt_ms: round3(observation.rtt_ms) }),
    attempts: observation.attempts,
    ...(observation.icmp ? { icmp: observation.icmp } : {}),
    started_at: startedAt.toISOString(),
    ...(observation.evidence ? { evidence: observation.evidence } : {}),
    ...(spec.control ? { control: spec.control } : {}),
    ...(spec.confirm ? { confirm: spec.confirm } : {}),
    ...(spec.note ? { note: spec.note } : {}),
  };
}

/** The spec with its target's address and port as the probe sends to them; undefined when it has no address. */
function resolvedSpec(spec: ProbeSpec): ResolvedProbeSpec | undefined {
  const { address, port } = spec.target;
  if (address === null) return undefined;
  return { ...spec, target: { ...spec.target, address, port: port ?? 0 } };
}

async function observeWithDeadline(
  spec: ResolvedProbeSpec,
  kind: ProbeKind,
  context: Omit<ProbeContext, 'signal'>,
): Promise<Observation> {
  const controller = new AbortController();
  // Abort one turn after the deadline: an answer already waiting in a socket is read first (I/O is polled before
  // setImmediate runs), so an event loop that stalled past the deadline cannot turn a queued reset into silence.
  let lastTurn: NodeJS.Immediate | undefined;
  const deadline = setTimeout(() => {
    lastTurn = setImmediate(() => controller.abort(DEADLINE));
  }, spec.timeoutMs);
  let giveUp: NodeJS.Timeout | undefined;
  const overdue = new Promise<Observation>((resolve) => {
    giveUp = setTimeout(
      () =>
        resolve({
          state: 'error',
          reason: `internal fault: the ${spec.kind} probe did not settle within its ${formatMs(spec.timeoutMs)} deadline`,
          attempts: spec.attempts,
        }),
      spec.timeoutMs + GRACE_MS,
    );
  });
  try {
    return await Promise.race([kind.observe(spec, { ...context, signal: controller.signal }), overdue]);
  } catch (error) {
    return {
      state: 'error',
      reason: `internal fault in the ${spec.kind} probe: ${messageOf(error)}`,
      attempts: spec.attempts,
    };
  } finally {
    clearTimeout(deadline);
    clearImmediate(lastTurn);
    clearTimeout(giveUp);
  }
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
