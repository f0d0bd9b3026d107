import { Socket } from 'node:net';
import type { ProbeContext, ProbeSpec, ResolvedProbeSpec } from '../core/probe-kind.js';
import type { Observation } from '../core/result.js';
import { silentAfter } from '../core/observation.js';
import { DEADLINE } from '../core/runner.js';
import type { IcmpListener } from './icmp-listener.js';
import type { IcmpError } from './icmp-packet.js';
import { failureObservation } from './classify.js';

/** How one TCP connect ended. */
export type ConnectOutcome =
  | { kind: 'connected'; socket: Socket; rttMs: number }
  | { kind: 'failed'; errno: string; message: string; rttMs: number; icmp?: IcmpError }
  | { kind: 'aborted' };

/** What a connect needs. */
export interface ConnectRequest {
  address: string;
  port: number;
  localAddress?: string | undefined;
  signal: AbortSignal;
  icmp: IcmpListener | null;
}

/** How long a failed connect waits for the ICMP error that explains it, when the listener has not seen it yet. */
const ICMP_LATE_MS = 250;

/** Connect once; settles exactly once, on connect, error or abort, and never leaves a socket behind unless connected. */
export function connectTcp(request: ConnectRequest): Promise<ConnectOutcome> {
  const { address, port, localAddress, signal, icmp } = request;
  if (signal.aborted) return Promise.resolve({ kind: 'aborted' });
  const watch = icmp?.watch({ protocol: 'tcp', remote: address, port });
  let started = performance.now();
  const socket = new Socket();
  return new Promise<ConnectOutcome>((resolve) => {
    let settled = false;
    const settle = (outcome: ConnectOutcome): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      watch?.close();
      if (outcome.kind !== 'connected') socket.destroy();
      resolve(outcome);
    };
    // Set while a failed connect waits for its ICMP error: the deadline then settles with the failure.
    let failure: ConnectOutcome | undefined;
    const onAbort = (): void => settle(failure ?? { kind: 'aborted' });
    const onConnect = (): void => {
      socket.on('error', () => {});
      const rttMs = performance.now() - started;
      // To a local address, the kernel may pick the target port itself as the source port: the socket
      // then connects to itself (TCP simultaneous open). Nothing listens there.
      if (socket.localPort === port && socket.localAddress === socket.remoteAddress) {
        settle({ kind: 'failed', errno: 'ESELFCONNECT', message: 'connected to itself', rttMs });
        return;
      }
      settle({ kind: 'connected', socket, rttMs });
    };
    const onError = (error: NodeJS.ErrnoException): void => {
      const rttMs = performance.now() - started;
      const failed = { kind: 'failed' as const, errno: error.code ?? 'EUNKNOWN', message: error.message, rttMs };
      if (!watch) return settle(failed);
      // A refusal is nearly always a TCP reset: take an ICMP error only if one already came.
      if (!explainedByIcmp(failed.errno)) return settle(watch.seen ? { ...failed, icmp: watch.seen } : failed);
      // The raw socket usually reads the ICMP error before the connect fails, but not always: give it a moment.
      failure = failed;
      void watch.wait(ICMP_LATE_MS).then((seen) => settle(seen ? { ...failed, icmp: seen } : failed));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('connectionAttempt', () => {
      // Time from here: the first connect of a process spends milliseconds in Node's lazy set-up before it.
      started = performance.now();
    });
    // The kernel picks the local port at connect(); it narrows an ICMP match to this very socket. Read only
    // when an ICMP error for this path comes: most probes never need it.
    watch?.setLocalPort(() => socket.localPort);
    socket.connect(
      localAddress ? { host: address, port, localAddress, noDelay: true } : { host: address, port, noDelay: true },
    );
  });
}

function explainedByIcmp(errno: string): boolean {
  return errno === 'EHOSTUNREACH' || errno === 'ENETUNREACH' || errno === 'EPROTO' || errno === 'ENOPROTOOPT';
}

/** How connecting to a probe's target ended: a socket to speak over, or the observation of why there is none. */
export type TargetConnection =
  | { kind: 'connected'; socket: Socket; rttMs: number; attempts: number }
  | { kind: 'unanswered'; observation: Observation };

/** Where and how to connect, when not simply to the probe's target with its attempts. */
export interface TargetConnectOptions {
  /** Connects to start; kinds that speak a protocol over TCP make one (the kernel retransmits). Default: the spec's. */
  attempts?: number;
  localAddress?: string;
  /** Another endpoint than the spec's target (a redirect's), under the same deadline. */
  endpoint?: { address: string; port: number };
}

/**
 * Connect to a probe's target under its deadline and attempts, classifying every failure: what every TCP kind
 * does. Silence gives filtered; a refusal, an ICMP error or an errno their state. The caller destroys the socket.
 */
export function connectToTarget(
  spec: ResolvedProbeSpec<unknown>,
  context: ProbeContext,
  options: TargetConnectOptions = {},
): Promise<TargetConnection> {
  const { address, port } = options.endpoint ?? spec.target;
  const attempts = options.attempts ?? spec.attempts;
  const { localAddress } = options;
  const { icmp } = context;
  // One attempt (every sweep probe) connects under the deadline's own signal: no racing, no extra promise.
  if (attempts <= 1) {
    return connectTcp({ address, port, signal: context.signal, icmp, localAddress }).then((outcome) =>
      connection(outcome, 1, spec, context),
    );
  }
  const connect = (signal: AbortSignal): Promise<ConnectOutcome> =>
    connectTcp({ address, port, signal, icmp, localAddress });
  return firstAnswer({ attempts, timeoutMs: spec.timeoutMs }, context.signal, connect).then(
    ({ outcome, attempts: started }) => connection(outcome, started, spec, context),
  );
}

/** A connect's outcome as the caller wants it: a socket, or the observation of why there is none. */
function connection(
  outcome: ConnectOutcome,
  started: number,
  spec: ResolvedProbeSpec<unknown>,
  context: ProbeContext,
): TargetConnection {
  if (outcome.kind === 'connected') {
    return { kind: 'connected', socket: outcome.socket, rttMs: outcome.rttMs, attempts: started };
  }
  if (outcome.kind === 'aborted') return { kind: 'unanswered', observation: silentAfter(spec.timeoutMs, started) };
  return { kind: 'unanswered', observation: failureObservation(outcome, started, context.icmpNote) };
}

/** Start up to `attempts` connects, spread over the deadline; the first answer wins and the rest are dropped. */
export function firstAnswer(
  spec: Pick<ProbeSpec, 'attempts' | 'timeoutMs'>,
  deadline: AbortSignal,
  connect: (signal: AbortSignal) => Promise<ConnectOutcome>,
): Promise<{ outcome: ConnectOutcome; attempts: number }> {
  // One attempt needs no racing: the deadline's signal is enough (a sweep runs tens of thousands of these).
  if (spec.attempts <= 1) return connect(deadline).then((outcome) => ({ outcome, attempts: 1 }));
  return new Promise((resolve) => {
    const stop = new AbortController();
    const onDeadline = (): void => stop.abort(DEADLINE);
    if (deadline.aborted) stop.abort(DEADLINE);
    else deadline.addEventListener('abort', onDeadline, { once: true });
    let started = 0;
    let pending = 0;
    let next: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (outcome: ConnectOutcome): void => {
      if (done) {
        if (outcome.kind === 'connected') outcome.socket.destroy();
        return;
      }
      done = true;
      clearTimeout(next);
      deadline.removeEventListener('abort', onDeadline);
      stop.abort(DEADLINE);
      resolve({ outcome, attempts: started });
    };
    const launch = (): void => {
      started += 1;
      pending += 1;
      void connect(stop.signal).then((outcome) => {
        pending -= 1;
        if (outcome.kind !== 'aborted' || pending === 0) finish(outcome);
      });
      if (started < spec.attempts) next = setTimeout(launch, spec.timeoutMs / spec.attempts);
    };
    launch();
  });
}
