import type { ProbeContext, ProbeKind, ProbeSpec, ResolvedProbeSpec } from './probe-kind.js';
import type { Deadline } from './deadline.js';
import type { Observation, ProbeResult } from './result.js';
import { blockedModeReason, judge } from './verdict.js';
import { RateLimit } from './rate-limit.js';
import { monotonicMs } from './clock.js';
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
  /**
   * Told whenever the count of this run's probes that still need the host changes: those not yet started, and
   * those in flight that do not wait on silence (ProbeContext.waiting). 0: every probe has started and each one
   * still in flight only waits (or the run is done); `inFlight` is how many are in flight then.
   */
  onBusy?: (busy: number, inFlight: number) => void;
}

/** How long past its deadline a probe may take to settle before the runner gives up on it. */
const GRACE_MS = 500;

/** The abort reason at a deadline: abort() without a reason builds a DOMException with a stack, for every probe. */
export const DEADLINE = 'deadline';

/** A plan as the runner reads it: an array, or a list that makes each spec when asked (a sweep of 65,535 ports). */
export interface PlanList {
  readonly length: number;
  at(index: number): ProbeSpec | undefined;
  /**
   * The plan as runs of consecutive probes that are the same but for their port (and so their id), when the plan
   * knows them: a pass over the whole plan then makes one spec per run, not one per probe (a sweep of 65,535 ports).
   */
  portRuns?(): ReadonlyArray<PortRun>;
}

/** Probes `start`, `start + 1`, ... of a plan, one per port of `ports`, the same but for their port and id. */
export interface PortRun {
  start: number;
  ports: ReadonlyArray<number | null>;
}

/**
 * Visit every probe of a plan in order with its port: `spec` is the probe's own, or the first of its port run (the
 * same but for port and id; read the port from `port`). Fast over a plan that knows its port runs.
 */
export function eachProbe(plan: PlanList, visit: (index: number, spec: ProbeSpec, port: number | null) => void): void {
  const runs = plan.portRuns?.();
  if (!runs) {
    for (let index = 0; index < plan.length; index += 1) {
      const spec = plan.at(index)!;
      visit(index, spec, spec.target.port);
    }
    return;
  }
  for (const { start, ports } of runs) {
    if (ports.length === 0) continue;
    const spec = plan.at(start)!;
    for (let offset = 0; offset < ports.length; offset += 1) visit(start + offset, spec, ports[offset]!);
  }
}

/** What the runner hands every probe besides its deadline. */
export type RunnerContext = Omit<ProbeContext, 'signal' | 'deadline'>;

/**
 * Run every probe of a plan with bounded concurrency; results come back in plan order (none when not retained).
 * No promise, timer or AbortController per probe: the probes in flight share one deadline timer (DeadlineWheel),
 * and a probe's AbortSignal is made only if its kind asks for it.
 */
export function runPlan(
  plan: PlanList,
  kindOf: (name: string) => ProbeKind,
  context: RunnerContext,
  options: RunnerOptions,
): Promise<ProbeResult[]> {
  return new Promise((resolve, reject) => new PlanRun(plan, kindOf, context, options, resolve, reject).start());
}

/** Run one probe under its deadline and judge it. */
export function runOne(spec: ProbeSpec, kind: ProbeKind, context: RunnerContext): Promise<ProbeResult> {
  return runPlan([spec], () => kind, context, { concurrency: 1 }).then((results) => results[0]!);
}

/** One run of a plan: starts probes while fewer than the concurrency are in flight, and judges each as it settles. */
class PlanRun {
  readonly #wheel = new DeadlineWheel((flight, observation) => this.settle(flight, observation));
  readonly #results: ProbeResult[];
  readonly #rate: RateLimit | undefined;
  readonly #concurrency: number;
  #next = 0;
  #inFlight = 0;
  /** Probes in flight that only wait on silence, and the busy count last told (onBusy). */
  #waiting = 0;
  #busyTold = -1;
  #pumping = false;
  #ended = false;
  #stackTraceLimit = Error.stackTraceLimit;

  constructor(
    private readonly plan: PlanList,
    private readonly kindOf: (name: string) => ProbeKind,
    private readonly context: RunnerContext,
    private readonly options: RunnerOptions,
    private readonly resolve: (results: ProbeResult[]) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.#results = new Array<ProbeResult>(options.retain === false ? 0 : plan.length);
    this.#rate = options.ratePerSecond ? new RateLimit(options.ratePerSecond) : undefined;
    this.#concurrency = Math.max(1, options.concurrency);
  }

  start(): void {
    // Every refused or failed connect makes an Error, and capturing its stack costs more than the connect.
    // The runner keeps only messages (a probe's failure is data), so no stack is captured while it runs.
    this.#stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    this.pump();
  }

  /** Start probes up to the concurrency; a probe that settles at once (a fault) re-enters here and returns. */
  private pump(): void {
    if (this.#pumping || this.#ended) return;
    this.#pumping = true;
    const total = this.plan.length;
    try {
      while (this.#next < total && this.#inFlight < this.#concurrency && !this.#ended) {
        const index = this.#next++;
        const spec = this.plan.at(index) as ProbeSpec;
        const resolved = spec.unresolved ? undefined : resolvedSpec(spec);
        if (!resolved) {
          this.deliver(unsent(spec), index);
          continue;
        }
        this.#inFlight += 1;
        const wait = this.#rate ? this.#rate.reserve() : 0;
        if (wait > 0) setTimeout(() => this.launch(spec, resolved, index), wait);
        else this.launch(spec, resolved, index);
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#inFlight === 0 && this.#next >= total) this.end();
    else this.tellBusy();
  }

  /** A probe in flight says it waits on silence, or works again. */
  waitingChanged(flight: Flight, waiting: boolean): void {
    if (flight.done || flight.waitingNow === waiting) return;
    flight.waitingNow = waiting;
    this.#waiting += waiting ? 1 : -1;
    this.tellBusy();
  }

  private tellBusy(): void {
    const onBusy = this.options.onBusy;
    if (!onBusy) return;
    const busy = this.plan.length - this.#next + this.#inFlight - this.#waiting;
    if (busy === this.#busyTold) return;
    this.#busyTold = busy;
    onBusy(busy, this.#inFlight);
  }

  private launch(spec: ProbeSpec, resolved: ResolvedProbeSpec, index: number): void {
    if (this.#ended) return;
    const flight = new Flight(spec, index, this.context, this.options.onBusy ? this : null);
    this.#wheel.add(flight);
    try {
      this.kindOf(spec.kind)
        .observe(resolved, flight)
        .then(
          (observation) => this.settle(flight, observation),
          (error: unknown) => this.settle(flight, fault(spec, error)),
        );
    } catch (error) {
      this.settle(flight, fault(spec, error));
    }
  }

  /** A probe's observation (or the fault that ended it): once per probe, whichever comes first. */
  private settle(flight: Flight, observation: Observation): void {
    if (flight.done) return;
    flight.done = true;
    flight.onExpiry(null);
    this.#inFlight -= 1;
    if (flight.waitingNow) this.#waiting -= 1;
    this.deliver(resultOf(flight.spec, flight.startedAt, observation), flight.index);
    this.pump();
  }

  private deliver(result: ProbeResult, index: number): void {
    if (this.#ended) return;
    if (this.options.retain !== false) this.#results[index] = result;
    try {
      this.options.onResult?.(result, index);
    } catch (error) {
      this.end(error);
    }
  }

  /** Done: every probe settled, or a result callback threw (the run stops starting probes and fails with it). */
  private end(...failure: [unknown?]): void {
    if (this.#ended) return;
    this.#ended = true;
    Error.stackTraceLimit = this.#stackTraceLimit;
    // A timer armed for a probe that settled early would keep the process up to a deadline longer.
    this.#wheel.stop();
    if (failure.length === 0) this.tellBusy();
    if (failure.length > 0) this.reject(failure[0]);
    else this.resolve(this.#results);
  }
}

/** The result of a probe that is not sent: its name did not resolve, or (a fault) it came without an address. */
function unsent(spec: ProbeSpec): ProbeResult {
  const startedAt = isoNow();
  if (spec.unresolved) {
    const reason = `name not resolved: ${spec.unresolved}`;
    return resultOf(spec, startedAt, { state: 'unresolved', reason, attempts: 0 });
  }
  const reason = `internal fault: the ${spec.kind} probe ${spec.id} came without an address`;
  return resultOf(spec, startedAt, { state: 'error', reason, attempts: 0 });
}

function fault(spec: ProbeSpec, error: unknown): Observation {
  return {
    state: 'error',
    reason: `internal fault in the ${spec.kind} probe: ${messageOf(error)}`,
    attempts: spec.attempts,
  };
}

/**
 * A probe in flight, and the context its kind sees: the deadline as a watch (one watcher) and, only when asked
 * for, as an AbortSignal. Its getters live on the prototype, so a spread copy of the context has neither.
 */
class Flight implements ProbeContext, Deadline {
  readonly icmp: RunnerContext['icmp'];
  readonly icmpNote: RunnerContext['icmpNote'];
  readonly startedAt = isoNow();
  /** When the deadline passes, on monotonicMs()'s clock. */
  readonly due: number;
  /** Settled: the wheel skips it, a late watcher or observation is ignored. */
  done = false;
  expired = false;
  /** The probe said it only waits on silence (ProbeContext.waiting). */
  waitingNow = false;
  #controller: AbortController | undefined;
  #watcher: (() => void) | null = null;

  constructor(
    readonly spec: ProbeSpec,
    readonly index: number,
    context: RunnerContext,
    private readonly run: PlanRun | null,
  ) {
    this.icmp = context.icmp;
    this.icmpNote = context.icmpNote;
    this.due = monotonicMs() + spec.timeoutMs;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.expired) this.#controller.abort(DEADLINE);
    }
    return this.#controller.signal;
  }

  get deadline(): Deadline {
    return this;
  }

  waiting(waiting: boolean): void {
    this.run?.waitingChanged(this, waiting);
  }

  onExpiry(fn: (() => void) | null): void {
    this.#watcher = fn;
  }

  /** Tell the probe to stop: its signal aborts and its watcher is called. */
  expire(): void {
    this.expired = true;
    this.#controller?.abort(DEADLINE);
    const watcher = this.#watcher;
    this.#watcher = null;
    watcher?.();
  }
}

/** Flights in deadline order: for one timeout, deadlines come in start order, so each timeout is a queue. */
interface Lane {
  flights: Array<Flight | undefined>;
  head: number;
}

/**
 * The deadlines of every probe of a run on one timer: it fires at the earliest deadline of a probe still in
 * flight and expires every probe due by then. Expiry comes one turn after the timer (setImmediate): an answer
 * already waiting in a socket is read first (I/O is polled before setImmediate runs), so an event loop that
 * stalled past the deadline cannot turn a queued reset into silence. A probe that does not settle within
 * GRACE_MS of its expiry is cut off as an internal fault (one more timer for all of them).
 */
class DeadlineWheel {
  readonly #lanes = new Map<number, Lane>();
  readonly #grace: Lane = { flights: [], head: 0 };
  readonly #graceDue: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Infinity;
  #expiring = false;
  #graceTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(private readonly cutOff: (flight: Flight, observation: Observation) => void) {}

  add(flight: Flight): void {
    const timeout = flight.spec.timeoutMs;
    let lane = this.#lanes.get(timeout);
    if (!lane) this.#lanes.set(timeout, (lane = { flights: [], head: 0 }));
    dropSettled(lane);
    lane.flights.push(flight);
    if (!this.#expiring && flight.due < this.#armedFor) this.arm(flight.due);
  }

  /** No more timers: the run ended early. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#graceTimer);
  }

  private arm(due: number): void {
    clearTimeout(this.#timer);
    this.#armedFor = due;
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(due - monotonicMs())));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    this.#expiring = true;
    // A timer may fire a little before its time on this clock: only what is due at the timer expires.
    const cut = monotonicMs();
    setImmediate(() => this.expire(cut));
  };

  private expire(cut: number): void {
    this.#expiring = false;
    if (this.#stopped) return;
    const graceDue = monotonicMs() + GRACE_MS;
    let next = Infinity;
    for (const [timeout, lane] of this.#lanes) {
      dropSettled(lane);
      for (let flight = lane.flights[lane.head]; flight && flight.due <= cut; flight = lane.flights[lane.head]) {
        lane.flights[lane.head++] = undefined;
        flight.expire();
        if (!flight.done) {
          this.#grace.flights.push(flight);
          this.#graceDue.push(graceDue);
        }
        dropSettled(lane);
      }
      const head = lane.flights[lane.head];
      if (head) next = Math.min(next, head.due);
      else this.#lanes.delete(timeout);
    }
    if (next < Infinity) this.arm(next);
    if (this.#grace.flights.length > this.#grace.head && !this.#graceTimer) this.armGrace();
  }

  private armGrace(): void {
    const due = this.#graceDue[this.#grace.head]!;
    this.#graceTimer = setTimeout(this.#giveUp, Math.max(1, Math.ceil(due - monotonicMs())));
  }

  readonly #giveUp = (): void => {
    this.#graceTimer = undefined;
    if (this.#stopped) return;
    const now = monotonicMs();
    const grace = this.#grace;
    while (grace.head < grace.flights.length && this.#graceDue[grace.head]! <= now) {
      const flight = grace.flights[grace.head]!;
      grace.flights[grace.head] = undefined;
      grace.head += 1;
      if (flight.done) continue;
      const { kind, timeoutMs, attempts } = flight.spec;
      this.cutOff(flight, {
        state: 'error',
        reason: `internal fault: the ${kind} probe did not settle within its ${formatMs(timeoutMs)} deadline`,
        attempts,
      });
    }
    if (grace.head === grace.flights.length) {
      grace.flights.length = 0;
      this.#graceDue.length = 0;
      grace.head = 0;
    } else this.armGrace();
  };
}

/** Let go of settled flights at the head of a lane (they settle in about start order), and of the spent slots. */
function dropSettled(lane: Lane): void {
  const { flights } = lane;
  while (lane.head < flights.length && flights[lane.head]!.done) flights[lane.head++] = undefined;
  if (lane.head === flights.length) {
    flights.length = 0;
    lane.head = 0;
  } else if (lane.head >= 1024 && lane.head * 2 >= flights.length) {
    lane.flights = flights.slice(lane.head);
    lane.head = 0;
  }
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
    isoText = isoUtc(ms);
  }
  return isoText;
}

/**
 * `new Date(ms).toISOString()`, written from the date's UTC fields: V8's toISOString works out the local time zone
 * on its first call (ICU reads /etc/localtime, ~1 ms of a one-port probe's start), which an ISO time never shows.
 */
function isoUtc(ms: number): string {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  // Years outside 0-9999 (and invalid times) keep toISOString's own form (and its RangeError).
  if (!(year >= 0 && year <= 9999)) return date.toISOString();
  const two = (value: number): string => (value < 10 ? `0${value}` : `${value}`);
  const millis = date.getUTCMilliseconds();
  return (
    `${String(year).padStart(4, '0')}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}` +
    `T${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}` +
    `.${millis < 10 ? `00${millis}` : millis < 100 ? `0${millis}` : millis}Z`
  );
}

/** The spec with its target's address and port as the probe sends to them; undefined when it has no address. */
function resolvedSpec(spec: ProbeSpec): ResolvedProbeSpec | undefined {
  const { address, port } = spec.target;
  if (address === null) return undefined;
  // A spec with both is already resolved: no copy per probe.
  if (port !== null) return spec as ResolvedProbeSpec;
  return { ...spec, target: { ...spec.target, address, port: 0 } };
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
    // The next one in order, with none waiting (a sweep's usual case): out at once, past the map.
    if (index === next && waiting.size === 0) {
      next += 1;
      deliver(result);
      return;
    }
    waiting.set(index, result);
    for (let ready = waiting.get(next); ready !== undefined; ready = waiting.get(next)) {
      waiting.delete(next);
      next += 1;
      deliver(ready);
    }
  };
}
