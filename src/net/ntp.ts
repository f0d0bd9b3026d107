import { randomBytes } from 'node:crypto';
import { formatMs } from '../core/duration.js';
import type { UdpCodec } from './udp-exchange.js';

/** An NTP server reply (RFC 5905 section 7.3), with the local times of the exchange. */
export interface NtpReply {
  leap: number;
  version: number;
  stratum: number;
  /** log2 of the server clock's precision in seconds. */
  precision: number;
  rootDelayMs: number;
  rootDispersionMs: number;
  refid: Buffer;
  /** The server's receive (T2) and transmit (T3) timestamps, as Unix milliseconds. */
  receiveMs: number;
  transmitMs: number;
  /** Our send (T1) and arrival (T4) times, as Unix milliseconds. */
  sentMs: number;
  arrivedMs: number;
  /** The Kiss-o'-Death code, when the reply is one. */
  kiss?: KissCode;
}

/** The Kiss-o'-Death codes the check names (RFC 5905 section 7.4). */
export type KissCode = 'RATE' | 'DENY' | 'RSTR';

/** What each Kiss-o'-Death code asks of the client. */
const KISS_MEANING: Record<KissCode, string> = {
  RATE: 'the server rate-limits this client and asks it to poll less often',
  DENY: 'the server denies this client access',
  RSTR: "the server restricts this client's access",
};

const PACKET_BYTES = 48;
const MODE_CLIENT = 3;
const MODE_SERVER = 4;
const VERSION = 4;
// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_TO_UNIX_S = 2_208_988_800;
const ERA_S = 2 ** 32;

/** The codec: a client request whose transmit timestamp is a random nonce the reply must echo as its originate timestamp. */
export function ntpCodec(): UdpCodec<NtpReply> {
  const nonces: Buffer[] = [];
  const sentMs: number[] = [];
  const now = wallClock();
  return {
    request(attempt) {
      const packet = Buffer.alloc(PACKET_BYTES);
      packet[0] = (VERSION << 3) | MODE_CLIENT;
      // A random transmit timestamp (NTP data minimization) reveals nothing of our clock and cannot be guessed off-path.
      const nonce = randomBytes(8);
      nonces[attempt] = nonce;
      nonce.copy(packet, 40);
      sentMs[attempt] = now();
      return packet;
    },
    accept(datagram) {
      const arrivedMs = now();
      const parsed = parseReply(datagram);
      if (!parsed) return undefined;
      const attempt = nonces.findIndex((nonce) => nonce.equals(parsed.originate));
      if (attempt < 0) return undefined;
      return { reply: { ...parsed.reply, sentMs: sentMs[attempt]!, arrivedMs }, attempt };
    },
    final: (reply) => reply.kiss !== 'RATE',
  };
}

/** A sub-millisecond wall clock: anchored once, then read from the monotonic clock. */
function wallClock(): () => number {
  const monotonic = performance.now();
  const coarse = Date.now();
  const precise = performance.timeOrigin + monotonic;
  // timeOrigin is exact until the wall clock is stepped or slewed away from the monotonic clock (a long-running
  // agent); then Date.now() anchors instead, its 1 ms steps centred. Date.now() alone would bias offsets by +0.5 ms.
  const anchor = precise - coarse > -0.5 && precise - coarse < 1.5 ? precise : coarse + 0.5;
  return () => anchor + (performance.now() - monotonic);
}

/** A server-mode packet's fields and the originate timestamp it echoes; undefined for anything else. */
export function parseReply(
  datagram: Buffer,
): { reply: Omit<NtpReply, 'sentMs' | 'arrivedMs'>; originate: Buffer } | undefined {
  if (datagram.length < PACKET_BYTES) return undefined;
  const first = datagram[0]!;
  const leap = first >> 6;
  const version = (first >> 3) & 0x07;
  if ((first & 0x07) !== MODE_SERVER || version < 1 || version > 4) return undefined;
  const stratum = datagram[1]!;
  const refid = Buffer.from(datagram.subarray(12, 16));
  const kiss = stratum === 0 ? kissCode(refid) : undefined;
  const transmit = datagram.subarray(40, 48);
  // RFC 5905 section 8: a zero transmit timestamp is bogus, except in a kiss, which need not carry the time.
  if (!kiss && transmit.every((byte) => byte === 0)) return undefined;
  return {
    originate: Buffer.from(datagram.subarray(24, 32)),
    reply: {
      leap,
      version,
      stratum,
      precision: datagram.readInt8(3),
      rootDelayMs: shortFormatMs(datagram, 4),
      rootDispersionMs: shortFormatMs(datagram, 8),
      refid,
      receiveMs: timestampMs(datagram, 32),
      transmitMs: timestampMs(datagram, 40),
      ...(kiss ? { kiss } : {}),
    },
  };
}

function kissCode(refid: Buffer): KissCode | undefined {
  const code = refid.toString('latin1');
  return code === 'RATE' || code === 'DENY' || code === 'RSTR' ? code : undefined;
}

/** NTP short format: 16.16 fixed-point seconds. */
function shortFormatMs(packet: Buffer, at: number): number {
  return (packet.readUInt32BE(at) / 65536) * 1000;
}

/** NTP timestamp format (32.32 fixed-point seconds since 1900) as Unix milliseconds. */
function timestampMs(packet: Buffer, at: number): number {
  const seconds = packet.readUInt32BE(at);
  const fraction = packet.readUInt32BE(at + 4);
  // RFC 4330 section 3: with the high bit clear the time lies in era 1 (from 2036 on), not in 1900-1968.
  const eraSeconds = (seconds & 0x80000000) === 0 ? seconds + ERA_S : seconds;
  return (eraSeconds - NTP_TO_UNIX_S) * 1000 + (fraction / ERA_S) * 1000;
}

/** The clock offset and round-trip delay of an exchange (RFC 5905 section 8), in milliseconds. */
export function offsetAndDelay(reply: Pick<NtpReply, 'sentMs' | 'receiveMs' | 'transmitMs' | 'arrivedMs'>): {
  offsetMs: number;
  delayMs: number;
} {
  const { sentMs: t1, receiveMs: t2, transmitMs: t3, arrivedMs: t4 } = reply;
  return { offsetMs: (t2 - t1 + (t3 - t4)) / 2, delayMs: t4 - t1 - (t3 - t2) };
}

/** Why the server has no good time to give: a Kiss-o'-Death, or unsynchronized; undefined when it has. */
export function timeProblem(reply: NtpReply): string | undefined {
  if (reply.kiss) return `Kiss-o'-Death ${reply.kiss}: ${KISS_MEANING[reply.kiss]}`;
  if (reply.leap === 3 || reply.stratum === 0 || reply.stratum >= 16) {
    return `unsynchronized (leap ${reply.leap}, stratum ${reply.stratum}): the server has no good time to give`;
  }
  return undefined;
}

/** The server's stratum and its clock against ours, in one line. */
export function describeTime(reply: NtpReply): string {
  const { offsetMs, delayMs } = offsetAndDelay(reply);
  return `stratum ${reply.stratum}, offset ${signedMs(offsetMs)}, delay ${formatMs(Math.max(0, delayMs))}`;
}

/** What the reply shows, for a result's evidence. */
export function ntpEvidence(reply: NtpReply): Record<string, unknown> {
  const evidence: Record<string, unknown> = {
    version: reply.version,
    leap: reply.leap,
    stratum: reply.stratum,
    refid: refidText(reply),
    precision: reply.precision,
    root_delay_ms: round3(reply.rootDelayMs),
    root_dispersion_ms: round3(reply.rootDispersionMs),
  };
  if (reply.kiss) return { ...evidence, kiss_code: reply.kiss };
  const { offsetMs, delayMs } = offsetAndDelay(reply);
  return {
    ...evidence,
    offset_ms: round3(offsetMs),
    delay_ms: round3(delayMs),
    server_time: new Date(reply.transmitMs).toISOString(),
  };
}

/** Stratum 0 and 1 carry four ASCII characters (a kiss code or a clock source such as GPS); higher strata an IPv4 address. */
function refidText(reply: NtpReply): string {
  const text = reply.refid.toString('latin1').replace(/\0+$/, '');
  if (reply.stratum <= 1 && /^[\x20-\x7e]+$/.test(text)) return text;
  return [...reply.refid].join('.');
}

/** An offset with its sign: + when the server is ahead. */
export function signedMs(ms: number): string {
  const size = formatMs(Math.abs(ms));
  return `${ms < 0 && size !== formatMs(0) ? '-' : '+'}${size}`;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
