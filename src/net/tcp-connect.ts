import { Socket } from 'node:net';
import type { IcmpListener } from './icmp-listener.js';
import type { IcmpError } from './icmp-packet.js';

/** How one TCP connect ended. */
export type ConnectOutcome =
  | { kind: 'connected'; socket: Socket; rttMs: number }
  | { kind: 'failed'; errno: string; message: string; rttMs: number; icmp?: IcmpError }
  | { kind: 'aborted' };

/** What a connect needs. */
export interface ConnectRequest {
  address: string;
  port: number;
  localAddress?: string;
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
      // Node calls connect() right after this event; the kernel has then picked the local port,
      // which narrows the ICMP match to this very socket.
      if (watch) {
        process.nextTick(() => {
          if (socket.localPort) watch.setLocalPort(socket.localPort);
        });
      }
    });
    socket.connect({ host: address, port, ...(localAddress ? { localAddress } : {}), noDelay: true });
  });
}

function explainedByIcmp(errno: string): boolean {
  return errno === 'EHOSTUNREACH' || errno === 'ENETUNREACH' || errno === 'EPROTO' || errno === 'ENOPROTOOPT';
}
