import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { IcmpListener, IcmpWatch } from './icmp-listener.js';
import type { ProbeContext, ResolvedProbeSpec } from '../core/probe-kind.js';
import type { IcmpError } from './icmp-packet.js';

/** A UDP protocol's request and reply: how a probe kind speaks over the exchange engine. */
export interface UdpCodec<Reply> {
  /** The request of one attempt (attempts count from 0); a fresh request may carry a fresh id. */
  request(attempt: number): Buffer;
  /** The reply a datagram is, with the attempt it answers; undefined when it answers nothing we sent. */
  accept(datagram: Buffer): { reply: Reply; attempt: number } | undefined;
  /** Whether a reply ends the exchange; a kind may keep trying after, say, a rate-limit answer. */
  final?(reply: Reply): boolean;
}

/** How a UDP exchange ended. */
export type UdpOutcome<Reply> =
  | { kind: 'reply'; reply: Reply; rttMs: number; attempts: number }
  | { kind: 'failed'; errno: string; rttMs: number; attempts: number; icmp?: IcmpError }
  | { kind: 'silent'; attempts: number; lastReply?: Reply };

/** What an exchange needs. */
export interface UdpRequest<Reply> {
  address: string;
  port: number;
  localAddress?: string;
  codec: UdpCodec<Reply>;
  attempts: number;
  timeoutMs: number;
  signal: AbortSignal;
  icmp: IcmpListener | null;
  /** Told that a request is out and nothing has answered, and when a datagram comes (ProbeContext.waiting). */
  waiter?: Pick<ProbeContext, 'waiting'>;
}

/** How long a socket error waits for the ICMP error that explains it. */
const ICMP_LATE_MS = 250;

/** When attempt `i` of `n` is sent: backing off exponentially, all inside the deadline, the last with time left for its reply. */
export function sendTimes(attempts: number, timeoutMs: number): number[] {
  const slots = 2 ** attempts;
  return Array.from({ length: attempts }, (_, i) => (timeoutMs * (2 ** i - 1)) / slots);
}

/**
 * Send a request on a connected socket, retrying with backoff until a valid reply, an error, or the deadline.
 * The connected socket only takes datagrams from the target's address and port; the codec checks the ids.
 */
export function exchangeUdp<Reply>(request: UdpRequest<Reply>): Promise<UdpOutcome<Reply>> {
  const { address, port, codec, signal } = request;
  return new Promise((resolve) => {
    const socket: Socket = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
    const sentAt: number[] = [];
    const timers: NodeJS.Timeout[] = [];
    let watch: IcmpWatch | undefined;
    let lastReply: Reply | undefined;
    let settled = false;
    const settle = (outcome: UdpOutcome<Reply>): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      watch?.close();
      socket.close();
      resolve(outcome);
    };
    const rttSince = (attempt: number): number => {
      const sent = sentAt[attempt] ?? sentAt[0];
      return sent === undefined ? 0 : performance.now() - sent;
    };
    // Set while a socket error waits for its ICMP error: the deadline then settles with the failure.
    let failure: Extract<UdpOutcome<Reply>, { kind: 'failed' }> | undefined;
    // At the deadline an ICMP error the listener recorded after the watch's own timer gave up (a stalled event loop
    // runs both timers before it polls the socket) still counts, as it would have a moment earlier.
    const onAbort = (): void => {
      const seen = watch?.seen;
      if (failure) return settle(seen ? { ...failure, icmp: seen } : failure);
      if (seen)
        return settle({
          kind: 'failed',
          errno: 'ICMP',
          rttMs: rttSince(sentAt.length - 1),
          attempts: sentAt.length,
          icmp: seen,
        });
      settle({ kind: 'silent', attempts: sentAt.length, ...(lastReply === undefined ? {} : { lastReply }) });
    };
    const send = (attempt: number): void => {
      if (settled) return;
      sentAt[attempt] = performance.now();
      // Without a callback, dgram drops send errors (EPERM from a local filter, a pending ECONNREFUSED) silently.
      socket.send(codec.request(attempt), (error) => {
        if (error) onError(error);
        else if (attempt === 0 && !settled && !heard) request.waiter?.waiting?.(true);
      });
    };
    // Once a datagram came, the probe works (parses it, perhaps asks again over TCP) until it settles.
    let heard = false;
    socket.on('message', (datagram) => {
      if (!heard) {
        heard = true;
        request.waiter?.waiting?.(false);
      }
      let accepted: ReturnType<UdpCodec<Reply>['accept']>;
      try {
        accepted = codec.accept(datagram);
      } catch {
        // A datagram the codec cannot even parse answers nothing we sent.
        return;
      }
      if (!accepted) return;
      if (codec.final && !codec.final(accepted.reply)) {
        lastReply = accepted.reply;
        return;
      }
      settle({ kind: 'reply', reply: accepted.reply, rttMs: rttSince(accepted.attempt), attempts: sentAt.length });
    });
    const onError = (error: NodeJS.ErrnoException): void => {
      if (settled) return;
      const failed = {
        kind: 'failed' as const,
        errno: error.code ?? 'EUNKNOWN',
        rttMs: rttSince(sentAt.length - 1),
        attempts: sentAt.length,
      };
      if (!watch) return settle(failed);
      // The socket error says little (3/13 and 3/10 both read EHOSTUNREACH, 3/9 reads ENETUNREACH): the ICMP error says what it was.
      failure = failed;
      void watch.wait(ICMP_LATE_MS).then((seen) => settle(seen ? { ...failed, icmp: seen } : failed));
    };
    socket.on('error', onError);
    if (signal.aborted) {
      settle({ kind: 'silent', attempts: 0 });
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    const start = (): void => {
      if (settled) return;
      watch = request.icmp?.watch({ protocol: 'udp', remote: address, port, localPort: socket.address().port });
      // net/host unreachable never reaches a connected UDP socket: only the ICMP listener sees it.
      void watch?.wait(request.timeoutMs).then((seen) => {
        if (seen && !settled)
          settle({
            kind: 'failed',
            errno: 'ICMP',
            rttMs: rttSince(sentAt.length - 1),
            attempts: sentAt.length,
            icmp: seen,
          });
      });
      // A connect error (ENETUNREACH: no local route) comes to this callback, not to 'error'.
      socket.connect(port, address, (error?: Error) => {
        if (error) return onError(error);
        sendTimes(request.attempts, request.timeoutMs).forEach((at, attempt) => {
          timers.push(setTimeout(() => send(attempt), at));
        });
      });
    };
    socket.bind({ port: 0, ...(request.localAddress ? { address: request.localAddress } : {}) }, start);
  });
}

/** Exchange with a probe's target, under its deadline and attempts: what every UDP kind does. */
export function exchangeWithTarget<Reply>(
  spec: ResolvedProbeSpec<unknown>,
  context: ProbeContext,
  codec: UdpCodec<Reply>,
): Promise<UdpOutcome<Reply>> {
  return exchangeUdp({
    address: spec.target.address,
    port: spec.target.port,
    codec,
    attempts: spec.attempts,
    timeoutMs: spec.timeoutMs,
    signal: context.signal,
    icmp: context.icmp,
    waiter: context,
  });
}
