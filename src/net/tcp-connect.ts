import { isIP, Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { ProbeContext, ProbeSpec, ResolvedProbeSpec } from '../core/probe-kind.js';
import type { Observation } from '../core/result.js';
import { silentAfter } from '../core/observation.js';
import { DEADLINE } from '../core/runner.js';
import { signalDeadline, type Deadline } from '../core/deadline.js';
import type { IcmpListener } from './icmp-listener.js';
import type { IcmpError } from './icmp-packet.js';
import { monotonicMs } from '../core/clock.js';
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
  /**
   * Told that the connect is out and nothing answered, and that something answered (ProbeContext.waiting): only for
   * a probe whose verdict any answer decides, so that what follows the connect cannot change it.
   */
  waiter?: Pick<ProbeContext, 'waiting'> | undefined;
}

/** How long a failed connect waits for the ICMP error that explains it, when the listener has not seen it yet. */
export const ICMP_LATE_MS = 250;

/** Connect once; settles exactly once, on connect, error or abort, and never leaves a socket behind unless connected. */
export function connectTcp(request: ConnectRequest): Promise<ConnectOutcome> {
  const { address, port, localAddress, signal, icmp, waiter } = request;
  if (signal.aborted) return Promise.resolve({ kind: 'aborted' });
  const watch = icmp?.watch({ protocol: 'tcp', remote: address, port });
  let started = monotonicMs();
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
      // An answer (a connection, a refusal, an error) makes the probe work again; its deadline ends it.
      if (outcome.kind !== 'aborted') waiter?.waiting?.(false);
      resolve(outcome);
    };
    // Set while a failed connect waits for its ICMP error: the deadline then settles with the failure.
    let failure: ConnectOutcome | undefined;
    const onAbort = (): void => settle(failure ?? { kind: 'aborted' });
    const onConnect = (): void => {
      socket.on('error', () => {});
      const rttMs = monotonicMs() - started;
      // To a local address, the kernel may pick the target port itself as the source port: the socket
      // then connects to itself (TCP simultaneous open). Nothing listens there.
      if (socket.localPort === port && socket.localAddress === socket.remoteAddress) {
        settle({ kind: 'failed', errno: 'ESELFCONNECT', message: 'connected to itself', rttMs });
        return;
      }
      settle({ kind: 'connected', socket, rttMs });
    };
    const onError = (error: NodeJS.ErrnoException): void => {
      const rttMs = monotonicMs() - started;
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
      started = monotonicMs();
    });
    // The kernel picks the local port at connect(); it narrows an ICMP match to this very socket. Read only
    // when an ICMP error for this path comes: most probes never need it.
    watch?.setLocalPort(() => socket.localPort);
    socket.connect(
      localAddress ? { host: address, port, localAddress, noDelay: true } : { host: address, port, noDelay: true },
    );
    if (!settled) waiter?.waiting?.(true);
  });
}

/** What a connect that proves the state only needs: the deadline as a watch, not a signal (a sweep runs thousands). */
export interface TouchRequest extends Omit<ConnectRequest, 'signal'> {
  deadline: Deadline;
  /** Told that the connect is out and only waits on silence (the probe's context: ProbeContext.waiting). */
  waiter?: Pick<ProbeContext, 'waiting'>;
}

/** libuv's TCP handle as net.Socket drives it (lib/net.js), through the binding Node 20 still allows. */
interface TcpHandle {
  connect(request: object, address: string, port: number): number;
  connect6(request: object, address: string, port: number): number;
  getsockname(out: { address?: string; port?: number }): number;
  close(): void;
}

interface TcpBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => { oncomplete: (status: number) => void };
  constants: { SOCKET: number };
}

let tcpBinding: TcpBinding | null | undefined;

/** The TCP binding, or null where this Node does not hand it out (then net.Socket does the work). */
function binding(): TcpBinding | null {
  if (tcpBinding === undefined) {
    try {
      tcpBinding = (process as unknown as { binding(name: string): TcpBinding }).binding('tcp_wrap');
    } catch {
      tcpBinding = null;
    }
  }
  return tcpBinding;
}

/** How a connect that proves the state only ended: the handshake completed (and was closed), or why not. */
export type TouchOutcome =
  { kind: 'answered'; rttMs: number } | Extract<ConnectOutcome, { kind: 'failed' | 'aborted' }>;

/**
 * Connect once and close at once, for a probe that needs the port's state only (a sweep's): the same outcomes
 * as {@link connectTcp}, on libuv's TCP handle itself. A net.Socket's stream, its events and an Error with a stack
 * per refused port cost more CPU than the kernel's connect, and a sweep makes tens of thousands of them.
 */
export function touchTcp(request: TouchRequest): Promise<TouchOutcome> {
  const tcp = binding();
  const { address, port, deadline, icmp, waiter } = request;
  if (!tcp || request.localAddress !== undefined) {
    return connectTcp({ address, port, localAddress: request.localAddress, signal: deadline.signal, icmp }).then(
      (outcome) => {
        if (outcome.kind !== 'connected') return outcome;
        outcome.socket.destroy();
        return { kind: 'answered', rttMs: outcome.rttMs };
      },
    );
  }
  if (deadline.expired) return Promise.resolve({ kind: 'aborted' });
  return new Promise<TouchOutcome>((resolve) => {
    const watch = icmp?.watch({ protocol: 'tcp', remote: address, port });
    const handle = new tcp.TCP(tcp.constants.SOCKET);
    let open = true;
    let settled = false;
    let failure: TouchOutcome | undefined;
    const close = (): void => {
      if (!open) return;
      open = false;
      handle.close();
    };
    const settle = (outcome: TouchOutcome): void => {
      if (settled) return;
      settled = true;
      deadline.onExpiry(null);
      watch?.close();
      close();
      resolve(outcome);
    };
    const onAbort = (): void => settle(failure ?? { kind: 'aborted' });
    const local = (): { address?: string; port?: number } => {
      const out: { address?: string; port?: number } = {};
      if (open) handle.getsockname(out);
      return out;
    };
    const failed = (status: number, rttMs: number): void => {
      const errno = getSystemErrorName(status);
      const outcome = { kind: 'failed' as const, errno, message: `connect ${errno} ${address}:${port}`, rttMs };
      // The local port still narrows a late ICMP error to this connect once the handle is closed.
      const mine = watch ? local().port : undefined;
      close();
      if (!watch) return settle(outcome);
      if (mine) watch.setLocalPort(mine);
      // As connectTcp: a refusal takes an ICMP error only if one already came; an unreachable waits a moment.
      if (!explainedByIcmp(errno)) return settle(watch.seen ? { ...outcome, icmp: watch.seen } : outcome);
      failure = outcome;
      void watch.wait(ICMP_LATE_MS).then((seen) => settle(seen ? { ...outcome, icmp: seen } : outcome));
    };
    const request = new tcp.TCPConnectWrap();
    const started = monotonicMs();
    request.oncomplete = (status: number): void => {
      if (settled) return;
      const rttMs = monotonicMs() - started;
      if (status !== 0) return failed(status, rttMs);
      // To a local address, the kernel may pick the target port itself as the source port: the socket then
      // connects to itself (TCP simultaneous open). Nothing listens there.
      const self = local();
      if (self.port === port && self.address === address) {
        settle({ kind: 'failed', errno: 'ESELFCONNECT', message: 'connected to itself', rttMs });
        return;
      }
      settle({ kind: 'answered', rttMs });
    };
    deadline.onExpiry(onAbort);
    watch?.setLocalPort(() => local().port);
    const status =
      isIP(address) === 6 ? handle.connect6(request, address, port) : handle.connect(request, address, port);
    // A connect the kernel refuses at once (no route, a local filter) fails like one refused later.
    if (status !== 0) failed(status, monotonicMs() - started);
    // Out: whatever answers ends the probe (a state-only connect has no handshake or request to follow).
    else waiter?.waiting?.(true);
  });
}

/** A failed connect that an ICMP error explains (the sweep engine waits for it the same way). */
export function explainedByIcmp(errno: string): boolean {
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
  /** Told while the connect only waits on silence: see ConnectRequest.waiter. */
  waiter?: Pick<ProbeContext, 'waiting'>;
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
  const { localAddress, waiter } = options;
  const { icmp } = context;
  // One attempt (every sweep probe) connects under the deadline's own signal: no racing, no extra promise.
  if (attempts <= 1) {
    return connectTcp({ address, port, signal: context.signal, icmp, localAddress, waiter }).then((outcome) =>
      connection(outcome, 1, spec, context),
    );
  }
  // Racing connects would tell the probe's one waiting state over each other: they count as working.
  const connect = (signal: AbortSignal): Promise<ConnectOutcome> =>
    connectTcp({ address, port, signal, icmp, localAddress });
  return firstAnswer({ attempts, timeoutMs: spec.timeoutMs }, context.signal, connect).then(
    ({ outcome, attempts: started }) => connection(outcome, started, spec, context),
  );
}

/**
 * Prove a probe's port state by connecting, without keeping the connection: the handshake's round trip, or the
 * observation of why there was none. One attempt goes through {@link touchTcp}; more race as connectToTarget does.
 */
export function touchTarget(
  spec: ResolvedProbeSpec<unknown>,
  context: ProbeContext,
): Promise<{ kind: 'answered'; rttMs: number; attempts: number } | { kind: 'unanswered'; observation: Observation }> {
  if (spec.attempts > 1) {
    return connectToTarget(spec, context).then((connection) => {
      if (connection.kind === 'unanswered') return connection;
      connection.socket.destroy();
      return { kind: 'answered', rttMs: connection.rttMs, attempts: connection.attempts };
    });
  }
  const { address, port } = spec.target;
  const deadline = context.deadline ?? signalDeadline(context.signal);
  return touchTcp({ address, port, deadline, icmp: context.icmp, waiter: context }).then((outcome) => {
    if (outcome.kind === 'answered') return { kind: 'answered', rttMs: outcome.rttMs, attempts: 1 };
    if (outcome.kind === 'aborted') return { kind: 'unanswered', observation: silentAfter(spec.timeoutMs, 1) };
    return { kind: 'unanswered', observation: failureObservation(outcome, 1, context.icmpNote) };
  });
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
