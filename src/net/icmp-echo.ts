import { randomBytes, randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import type { IcmpListener, IcmpWatch } from './icmp-listener.js';
import type { IcmpError } from './icmp-packet.js';
import type { ProbeContext } from '../core/probe-kind.js';
import { sendTimes } from './udp-exchange.js';

/** An echo reply that answers one of our requests. */
export interface EchoReply {
  /** The echo sequence number it answers (attempt + 1). */
  sequence: number;
  /** IPv4: the reply's TTL, read from its IP header; IPv6: null, the raw socket does not show the hop limit. */
  ttl: number | null;
  /** Size of the ICMP message. */
  bytes: number;
}

/** How an echo exchange ended. */
export type EchoOutcome =
  | { kind: 'reply'; reply: EchoReply; rttMs: number; attempts: number }
  | { kind: 'icmp'; icmp: IcmpError; rttMs: number; attempts: number }
  | { kind: 'failed'; errno: string; message: string; rttMs: number; attempts: number }
  | { kind: 'silent'; attempts: number };

/** What an echo exchange needs. */
export interface EchoRequest {
  address: string;
  attempts: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** The shared raw sockets: requests go out on them, replies and errors come in on them. */
  listener: IcmpListener;
  /** Told that the first request is out (ProbeContext.waiting): a reply or an error ends the exchange. */
  waiter?: Pick<ProbeContext, 'waiting'>;
}

const ECHO_REQUEST = { 4: 8, 6: 128 } as const;
const ECHO_REPLY = { 4: 0, 6: 129 } as const;
const LABEL = Buffer.from('reachgate');
const TOKEN_BYTES = 8;

/** Identifiers of the exchanges in flight in this process: each gets its own. */
const identifiersInUse = new Set<number>();

/**
 * Send echo requests with backoff inside the deadline until a reply, an ICMP error or the deadline.
 * A reply counts only if it comes from the target and carries our identifier, a sequence we sent and our token.
 */
export function exchangeEcho(request: EchoRequest): Promise<EchoOutcome> {
  const { address, listener, signal } = request;
  const family = isIP(address) === 6 ? 6 : 4;
  const identifier = allocateIdentifier();
  // Another process may use the same identifier: a random token in the payload tells our replies apart.
  const token = randomBytes(TOKEN_BYTES);
  const target = canonicalAddress(address);
  return new Promise((resolve) => {
    const sentAt: number[] = [];
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    let watch: IcmpWatch | undefined;
    let stopListening: (() => void) | undefined;
    const settle = (outcome: EchoOutcome): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      stopListening?.();
      watch?.close();
      identifiersInUse.delete(identifier);
      resolve(outcome);
    };
    const sinceLastSend = (): number => performance.now() - (sentAt[sentAt.length - 1] ?? performance.now());
    // At the deadline an ICMP error the listener read in the same turn as the watch's own timer still counts: a
    // stalled event loop runs both timers before it polls the socket, so the error is recorded after wait() gave up.
    const onAbort = (): void => {
      const icmp = watch?.seen;
      settle(
        icmp
          ? { kind: 'icmp', icmp, rttMs: sinceLastSend(), attempts: sentAt.length }
          : { kind: 'silent', attempts: sentAt.length },
      );
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    stopListening = listener.listen((from, packet, source) => {
      if (from !== family || canonicalAddress(source) !== target) return;
      const reply = parseEchoReply(family, packet, identifier, token);
      if (!reply) return;
      const sent = sentAt[reply.sequence - 1];
      if (sent === undefined) return;
      settle({ kind: 'reply', reply, rttMs: performance.now() - sent, attempts: sentAt.length });
    });
    // An ICMP error quotes our echo request, whose identifier the packet parser reads as the source port.
    watch = listener.watch({ protocol: 'icmp', remote: address, port: 0, localPort: identifier });
    void watch.wait(request.timeoutMs).then((icmp) => {
      if (icmp) settle({ kind: 'icmp', icmp, rttMs: sinceLastSend(), attempts: sentAt.length });
    });
    const send = (attempt: number): void => {
      if (settled) return;
      sentAt[attempt] = performance.now();
      const sent = listener.send(address, echoRequest(family, identifier, attempt + 1, token));
      if (attempt === 0) {
        sent.then(
          () => {
            if (!settled) request.waiter?.waiting?.(true);
          },
          () => undefined,
        );
      }
      sent.catch((error: Error) => {
        settle({
          kind: 'failed',
          errno: errnoOf(error.message),
          message: error.message,
          rttMs: sinceLastSend(),
          attempts: sentAt.length,
        });
      });
    };
    sendTimes(request.attempts, request.timeoutMs).forEach((at, attempt) => {
      timers.push(setTimeout(() => send(attempt), at));
    });
  });
}

/** An ICMP (type 8) or ICMPv6 (type 128) echo request; the kernel fills in the ICMPv6 checksum itself. */
export function echoRequest(family: 4 | 6, identifier: number, sequence: number, token: Buffer): Buffer {
  const message = Buffer.concat([Buffer.alloc(8), LABEL, token]);
  message[0] = ECHO_REQUEST[family];
  message.writeUInt16BE(identifier, 4);
  message.writeUInt16BE(sequence, 6);
  if (family === 4) message.writeUInt16BE(internetChecksum(message), 2);
  return message;
}

/** The echo reply a packet is, when it answers our identifier and token; undefined for anything else. */
export function parseEchoReply(
  family: 4 | 6,
  packet: Buffer,
  identifier: number,
  token: Buffer,
): EchoReply | undefined {
  // An IPv4 raw socket reads the IP header too (its TTL is the evidence); an ICMPv6 one does not.
  const at = family === 4 ? (packet[0]! & 0x0f) * 4 : 0;
  const message = packet.subarray(at);
  if (message.length < 8 + LABEL.length + token.length) return undefined;
  if (message[0] !== ECHO_REPLY[family] || message[1] !== 0) return undefined;
  if (message.readUInt16BE(4) !== identifier) return undefined;
  if (!message.subarray(8 + LABEL.length, 8 + LABEL.length + token.length).equals(token)) return undefined;
  return { sequence: message.readUInt16BE(6), ttl: family === 4 ? packet[8]! : null, bytes: message.length };
}

/** The 16-bit one's complement checksum of RFC 1071. */
export function internetChecksum(bytes: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += bytes.readUInt16BE(i);
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function allocateIdentifier(): number {
  // Bounded: far fewer exchanges are ever in flight than there are identifiers.
  for (let tries = 0; tries < 1000; tries++) {
    const identifier = randomInt(1, 0x10000);
    if (!identifiersInUse.has(identifier)) {
      identifiersInUse.add(identifier);
      return identifier;
    }
  }
  throw new Error('no free ICMP echo identifier: too many echo probes in flight');
}

function canonicalAddress(address: string): string {
  // The WHATWG URL parser writes IPv6 addresses in their one canonical form.
  return isIP(address) === 6 ? new URL(`http://[${address}]/`).hostname : address;
}

// raw-socket reports send errors by their strerror text only.
const ERRNO_BY_MESSAGE: Array<[RegExp, string]> = [
  [/network is unreachable/i, 'ENETUNREACH'],
  [/no route to host/i, 'EHOSTUNREACH'],
  [/operation not permitted/i, 'EPERM'],
  [/permission denied/i, 'EACCES'],
  [/address family not supported/i, 'EAFNOSUPPORT'],
  [/invalid argument/i, 'EINVAL'],
];

/** The errno a raw-socket error message names (raw-socket reports only the strerror text). */
export function errnoOf(message: string): string {
  return ERRNO_BY_MESSAGE.find(([pattern]) => pattern.test(message))?.[1] ?? 'EUNKNOWN';
}
