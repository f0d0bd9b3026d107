import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { IcmpError, IcmpListener } from '../core/icmp.js';
import { errnoOf } from './icmp-echo.js';
import { openRawReceiver, readQueued, type RawReceiverModule, type RawSocket } from './raw-receiver.js';
import { canonicalAddress, parseIcmp4, parseIcmp6 } from './icmp-packet.js';
import { buildSyn, parseTcp, quotedSequence, SynCookies, TCP_FLAGS, writeTcpChecksum } from './tcp-segment.js';

// SYN mode (issue 12): SYNs from a raw socket, answers read from raw sockets, matched by a keyed cookie in the
// sequence number. Nothing is remembered per SYN sent: an answer whose acknowledgment is not cookie + 1 (or an
// ICMP error whose quoted sequence is not the cookie) is someone else's. The kernel answers a SYN-ACK with a
// reset, since no socket of ours owns the port: the target drops its half-open connection at once.

// Kept here for its importers (it lives in icmp-packet.ts, whose importers need no crypto).
export { canonicalAddress };

/** Highest hop a tagged SYN may be sent with: the tag is the TTL (IPv6 hop limit), XORed into the cookie. */
export const MAX_TAG = 64;

/** An answer to a SYN: its tag says which (0: an untagged SYN; n: the SYN sent with TTL n). */
export type SynAnswer =
  { kind: 'syn-ack' | 'reset'; tag: number; from: string } | { kind: 'icmp'; tag: number; icmp: IcmpError };

/** Hears the answers to the SYNs sent to one address and port from a block of source ports. */
export type SynHandler = (answer: SynAnswer) => void;

/** A handler and the source ports whose answers it hears. */
interface Hearing {
  block: PortBlock;
  handler: SynHandler;
}

/** The scanner, or why there is none here. */
export type SynScannerStart = { scanner: SynScanner; why?: undefined } | { scanner: null; why: string };

interface RawModule extends RawReceiverModule {
  AddressFamily: { IPv4: number; IPv6: number };
}

const IPPROTO_TCP = 6;
/** Receive buffer of each raw TCP socket: it reads a copy of every TCP segment the host receives. */
const RECEIVE_BUFFER = 32 * 1024 * 1024;
const IPPROTO_IP = 0;
const IP_TTL = 2;
const IPPROTO_IPV6 = 41;
const IPV6_CHECKSUM = 7;
const IPV6_UNICAST_HOPS = 16;
/** Where the checksum sits in a TCP header: the IPv6 kernel writes it there (IPV6_CHECKSUM), IPv4 has no such option. */
const TCP_CHECKSUM_OFFSET = 16;
/** Segments read per wake-up at most, so a flood of answers cannot starve the rest of the process. */
const DRAIN_LIMIT = 8192;
/** Route look-ups (the source address an IPv4 checksum needs) kept at most. */
const ROUTES_KEPT = 4096;
/** How often a send the kernel refused for lack of buffer space is tried again, 1 ms apart. */
const BUSY_RETRIES = 50;

const GRANT = 'run as root, or grant it: setcap cap_net_raw+ep "$(command -v node)"';

/** Open a scanner: raw TCP sockets for IPv4 (and IPv6 when the host has it); why not, when it cannot. */
export function openSynScanner(): SynScannerStart {
  if (process.env.REACHGATE_RAW_SOCKET === 'off') return { scanner: null, why: RAW_OFF };
  let raw: RawModule;
  try {
    raw = createRequire(import.meta.url)('raw-socket') as RawModule;
  } catch {
    return { scanner: null, why: 'the optional raw-socket module is not installed here (npm install raw-socket)' };
  }
  const scanner = new SynScanner();
  // Every raw TCP socket reads a copy of every TCP segment the host receives: a deep queue, drained in bulk.
  const open = (family: 4 | 6, addressFamily: number): RawSocket =>
    openRawReceiver(raw, addressFamily, IPPROTO_TCP, {
      queueBytes: RECEIVE_BUFFER,
      drainLimit: DRAIN_LIMIT,
      onPacket: (packet, source) => scanner.answer(family, packet, source),
    });
  try {
    scanner.use(4, open(4, raw.AddressFamily.IPv4));
  } catch (error) {
    return { scanner: null, why: rawTcpWhy((error as Error).message) };
  }
  try {
    const v6 = open(6, raw.AddressFamily.IPv6);
    // The IPv6 raw socket leaves the transport checksum to the sender unless told where it sits (RFC 3542 3.1).
    v6.wrap.setOption(IPPROTO_IPV6, IPV6_CHECKSUM, int32(TCP_CHECKSUM_OFFSET), 4);
    scanner.use(6, v6);
  } catch {
    // A host without IPv6 still scans over IPv4.
  }
  return { scanner };
}

/** Why SYN mode is off: raw sockets switched off for the process. */
export const RAW_OFF = 'raw sockets are switched off (REACHGATE_RAW_SOCKET=off)';

/** Why SYN mode cannot run, from the error opening a raw TCP socket gave. */
export function rawTcpWhy(message: string): string {
  return /not permitted|EPERM|EACCES/i.test(message)
    ? `sending raw SYNs needs CAP_NET_RAW, which this process lacks: ${GRANT}`
    : `the raw TCP socket could not open: ${message}`;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32LE(value);
  return buffer;
}

/**
 * The source ports SYNs go out from: a range outside the kernel's ephemeral ports (ip_local_port_range), so no socket
 * of this host is likely to be given one, and the kernel's reset to a SYN-ACK closes the target's half-open connection.
 */
export function sourcePortRange(rangeText?: string): { low: number; high: number } {
  try {
    const text = rangeText ?? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const [low, high] = text.trim().split(/\s+/).map(Number);
    if (high !== undefined && high < 65000) return { low: high + 1, high: 65535 };
    if (low !== undefined && low > 2048) return { low: 1024, high: low - 1 };
  } catch {
    // not Linux: any high port
  }
  return { low: 40000, high: 65535 };
}

/** Most source ports one probe or engine job takes: its attempts beyond it reuse its ports, round robin. */
export const MAX_SOURCE_PORTS = 64;

/**
 * Source ports handed out in blocks, round robin over the range: every attempt of a SYN probe goes out from a port of
 * its own, and every probe (every run of the sweep engine) from ports of its own. An attempt is then an independent
 * draw: a target whose SYN-ACK to an earlier attempt was lost keeps that 4-tuple half-open (SYN_RECV) and answers a
 * repeated SYN of it at most twice a second (Linux: net.ipv4.tcp_invalid_ratelimit), so retries from one port could
 * stay silent together. Answers are recognised by the block they came back to (and the cookie, keyed with the port),
 * so probes in flight at once, in one plan or in plans side by side, never share an answer while the range holds
 * them all (4,536 ports with Linux's default ephemeral range).
 */
export class SourcePorts {
  readonly low: number;
  readonly high: number;
  #next: number;

  constructor(range: { low: number; high: number }, start = randomInt(range.low, range.high + 1)) {
    this.low = range.low;
    this.high = range.high;
    this.#next = start;
  }

  /** The first of `count` consecutive source ports (1..MAX_SOURCE_PORTS) not handed out since the range came round. */
  take(count: number): number {
    const size = this.blockOf(count);
    if (this.#next + size - 1 > this.high || this.#next < this.low) this.#next = this.low;
    const base = this.#next;
    this.#next += size;
    return base;
  }

  /** How many ports a block for `count` attempts has: one per attempt, at most MAX_SOURCE_PORTS and the range. */
  blockOf(count: number): number {
    return Math.max(1, Math.min(MAX_SOURCE_PORTS, this.high - this.low + 1, Math.floor(count)));
  }

  /** Whether `port` is one this range hands out (an answer to anything else is no SYN of ours). */
  holds(port: number): boolean {
    return port >= this.low && port <= this.high;
  }
}

let ports: SourcePorts | undefined;

/** The process's source ports, shared by the SYN scanner and the native sweep engine's SYN runs. */
export function sourcePorts(): SourcePorts {
  return (ports ??= new SourcePorts(sourcePortRange()));
}

/** The ports of one probe: `count` from `base`; attempt n goes out from base + n mod count. */
export interface PortBlock {
  base: number;
  count: number;
}

/** The source port of attempt `attempt` (0 the first) of a probe with `block`. */
export function attemptPort(block: PortBlock, attempt: number): number {
  return block.base + (attempt % block.count);
}

/** Take a block of source ports for a probe of `attempts` attempts. */
export function takePorts(attempts: number): PortBlock {
  const ports = sourcePorts();
  return { base: ports.take(attempts), count: ports.blockOf(attempts) };
}

/**
 * SYNs out, answers in, matched by cookie: one per process, shared by every probe (see {@link sharedSynScanner}).
 * Each probe sends from source ports of its own (takePorts) and hears only the answers that come back to them, so two
 * probes of one address and port in flight at once never take each other's answer: probes of one plan (a named row
 * beside the sweep, loss probes beside a silence round), a trace beside a probe, or plans side by side (the silence
 * lab test runs four in one process; the agent does not: it runs all its profiles as one plan per cycle, and its
 * cycles one after another).
 */
export class SynScanner {
  /** The range every SYN's source port comes from (the process's: the sweep engine's SYNs use it too). */
  readonly ports = sourcePorts();
  readonly #sockets = new Map<4 | 6, RawSocket>();
  readonly #cookies: SynCookies;
  /** Who hears answers from an address and port, and to which source ports: only while a probe waits for one. */
  readonly #handlers = new Map<string, Set<Hearing>>();
  readonly #routes = new Map<string, Promise<string>>();
  #icmp: IcmpListener | null = null;
  #stopIcmp: (() => void) | undefined;

  /** `secret` keys the cookies (a fresh random one; a test passes its own to forge answers). */
  constructor(secret: Buffer = randomBytes(32)) {
    this.#cookies = new SynCookies(secret);
  }

  /** Send and hear through this raw TCP socket of an address family (opened by openSynScanner). */
  use(family: 4 | 6, socket: RawSocket): void {
    this.#sockets.set(family, socket);
  }

  /** Whether SYNs to this address family can be sent here. */
  supports(address: string): boolean {
    return this.#sockets.has(isIP(address) === 6 ? 6 : 4);
  }

  /** Hear the ICMP errors that answer our SYNs through the process's ICMP listener (null: none). */
  useIcmp(listener: IcmpListener | null): void {
    if (listener === this.#icmp) return;
    this.#stopIcmp?.();
    this.#icmp = listener;
    this.#stopIcmp = listener?.listen((family, packet, source) => this.#onIcmp(family, packet, source));
  }

  /** Hear answers from `address`:`port` to the source ports of `block` until the returned function is called. */
  hear(address: string, port: number, block: PortBlock, handler: SynHandler): () => void {
    const key = `${canonicalAddress(address)}|${port}`;
    let set = this.#handlers.get(key);
    if (!set) this.#handlers.set(key, (set = new Set()));
    const hearing = { block, handler };
    set.add(hearing);
    return () => {
      set.delete(hearing);
      if (set.size === 0 && this.#handlers.get(key) === set) this.#handlers.delete(key);
    };
  }

  /**
   * Send one SYN to `address`:`port` from `sourcePort` (a port of the probe's block); `tag` 0 with the route's TTL,
   * `tag` n (1..MAX_TAG) with TTL n (IPv6 hop limit n). Rejects with an errno-coded error when the kernel refuses it
   * (no route, a local filter).
   */
  async send(address: string, port: number, sourcePort: number, tag = 0): Promise<void> {
    const family = isIP(address) === 6 ? 6 : 4;
    const socket = this.#sockets.get(family);
    if (!socket) throw errnoError('EAFNOSUPPORT', `no raw TCP socket for IPv${family} here`);
    const sequence = (this.#cookies.cookie(canonicalAddress(address), port, sourcePort) ^ tag) >>> 0;
    const segment = buildSyn({ sourcePort, destinationPort: port, sequence });
    if (family === 4) writeTcpChecksum(segment, await this.#sourceFor(address), address);
    for (let tries = 0; ; tries++) {
      try {
        if (tag > 0) this.#setHops(socket, family, tag);
        socket.wrap.send(segment, 0, segment.length, address, () => {});
        return;
      } catch (error) {
        const errno = errnoOf((error as Error).message);
        const busy = /no buffer space|temporarily unavailable/i.test((error as Error).message);
        if (!busy || tries >= BUSY_RETRIES) throw errnoError(errno, (error as Error).message);
        await new Promise((resolve) => setTimeout(resolve, 1));
      } finally {
        if (tag > 0) this.#setHops(socket, family, -1);
      }
    }
  }

  /** Read every answer already queued in the raw sockets now (before a deadline concludes silence). */
  readQueued(): void {
    for (const socket of this.#sockets.values()) readQueued(socket);
  }

  /** Close the raw sockets. */
  close(): void {
    this.#stopIcmp?.();
    this.#stopIcmp = undefined;
    this.#icmp = null;
    for (const socket of this.#sockets.values()) socket.close();
    this.#sockets.clear();
    this.#handlers.clear();
  }

  #setHops(socket: RawSocket, family: 4 | 6, hops: number): void {
    // -1 restores the route's default.
    if (family === 4) socket.wrap.setOption(IPPROTO_IP, IP_TTL, int32(hops), 4);
    else socket.wrap.setOption(IPPROTO_IPV6, IPV6_UNICAST_HOPS, int32(hops), 4);
  }

  /** The source address the kernel picks for `address` (a connected UDP socket asks the route; nothing is sent). */
  #sourceFor(address: string): Promise<string> {
    let route = this.#routes.get(address);
    if (route) return route;
    if (this.#routes.size >= ROUTES_KEPT) this.#routes.clear();
    route = new Promise<string>((resolve, reject) => {
      const socket = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
      socket.once('error', (error: NodeJS.ErrnoException) => {
        socket.close();
        reject(errnoError(error.code ?? 'EUNKNOWN', error.message));
      });
      socket.connect(9, address, () => {
        const source = socket.address().address;
        socket.close();
        resolve(source);
      });
    });
    this.#routes.set(address, route);
    // A failed look-up (no route yet) is asked again next time.
    route.catch(() => this.#routes.delete(address));
    return route;
  }

  /** A segment one of the raw TCP sockets read: an answer to one of our SYNs, or anyone else's traffic. */
  answer(family: 4 | 6, packet: Buffer, source: string): void {
    if (this.#handlers.size === 0) return;
    const header = parseTcp(family, packet, source);
    if (!header || !this.ports.holds(header.destinationPort) || !(header.flags & TCP_FLAGS.ACK)) return;
    const synAck = (header.flags & (TCP_FLAGS.SYN | TCP_FLAGS.RST)) === TCP_FLAGS.SYN;
    if (!synAck && !(header.flags & TCP_FLAGS.RST)) return;
    const from = canonicalAddress(source);
    const tag = this.#tagOf(from, header.sourcePort, header.destinationPort, (header.acknowledgment - 1) >>> 0);
    if (tag === undefined) return;
    const answer: SynAnswer = { kind: synAck ? 'syn-ack' : 'reset', tag, from };
    this.#deliver(`${from}|${header.sourcePort}`, header.destinationPort, answer);
  }

  #onIcmp(family: 4 | 6, packet: Buffer, source: string): void {
    if (this.#handlers.size === 0) return;
    const icmp = family === 4 ? parseIcmp4(packet, source) : parseIcmp6(packet, source);
    if (!icmp || icmp.quoted.protocol !== 'tcp' || !this.ports.holds(icmp.quoted.sourcePort)) return;
    const sequence = quotedSequence(family, packet);
    if (sequence === null) return;
    const destination = canonicalAddress(icmp.quoted.destination);
    const { destinationPort, sourcePort } = icmp.quoted;
    const tag = this.#tagOf(destination, destinationPort, sourcePort, sequence);
    if (tag === undefined) return;
    this.#deliver(`${destination}|${destinationPort}`, sourcePort, { kind: 'icmp', tag, icmp });
  }

  /** The tag a sequence number carries, when it is one of our cookies; undefined for anyone else's. */
  #tagOf(address: string, port: number, sourcePort: number, sequence: number): number | undefined {
    const tag = (sequence ^ this.#cookies.cookie(address, port, sourcePort)) >>> 0;
    return tag <= MAX_TAG ? tag : undefined;
  }

  /** An answer to our SYN to the address and port of `key` from `sourcePort`: for the probes whose port it is. */
  #deliver(key: string, sourcePort: number, answer: SynAnswer): void {
    const set = this.#handlers.get(key);
    if (!set) return;
    for (const { block, handler } of [...set]) {
      if (sourcePort >= block.base && sourcePort < block.base + block.count) handler(answer);
    }
  }
}

function errnoError(errno: string, message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = errno;
  return error;
}

let shared: { start: SynScannerStart; users: number; idle?: NodeJS.Timeout } | undefined;
/** How long an unused shared scanner stays open: probes that follow one another reuse it. */
const IDLE_CLOSE_MS = 50;

/**
 * The process's scanner, opened on first use; each user calls the returned release when done, and the
 * sockets close once nobody used them for a moment (open raw sockets would keep the process alive).
 */
export function sharedSynScanner(): { start: SynScannerStart; release: () => void } {
  if (!shared) shared = { start: openSynScanner(), users: 0 };
  const entry = shared;
  clearTimeout(entry.idle);
  entry.users += 1;
  let released = false;
  return {
    start: entry.start,
    release: () => {
      if (released) return;
      released = true;
      entry.users -= 1;
      if (entry.users > 0) return;
      entry.idle = setTimeout(() => {
        if (entry.users > 0 || shared !== entry) return;
        entry.start.scanner?.close();
        shared = undefined;
      }, IDLE_CLOSE_MS);
    },
  };
}

/** Why SYN mode cannot run here, or undefined when it can (opens and keeps the shared scanner briefly). */
export function synUnavailable(): string | undefined {
  const { start, release } = sharedSynScanner();
  release();
  return start.why;
}
