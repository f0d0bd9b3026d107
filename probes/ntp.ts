import { randomBytes } from 'node:crypto';
import type { ProbeContext, ProbeKind, ProbeSpec } from '../src/core/probe-kind.js';
import type { Check, Observation } from '../src/core/result.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs, parseDuration } from '../src/core/duration.js';
import { exchangeWithTarget, type UdpCodec } from '../src/net/udp-exchange.js';
import { silenceReason, failureObservation } from '../src/net/classify.js';

/** Options of the ntp probe. */
export interface NtpOptions {
  /** Largest offset between the server's clock and ours that passes, in milliseconds. */
  maxOffsetMs?: number;
}

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

const KISS_MEANING: Record<KissCode, string> = {
  RATE: 'the server rate-limits this client and asks it to poll less often',
  DENY: 'the server denies this client access',
  RSTR: 'the server restricts this client\'s access',
};

const PACKET_BYTES = 48;
const MODE_CLIENT = 3;
const MODE_SERVER = 4;
const VERSION = 4;
// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_TO_UNIX_S = 2_208_988_800;
const ERA_S = 2 ** 32;

/** NTPv4 client request answered by the server's time; checks synchronization, Kiss-o'-Death and offset. */
export const ntp: ProbeKind<NtpOptions> = {
  name: 'ntp',
  summary: 'NTPv4 client request; open only on a valid server reply; checks stratum, leap, Kiss-o\'-Death and --max-offset',
  protocol: 'udp',
  defaultPort: 123,
  defaultAttempts: 3,
  cliOptions: {
    'max-offset': { type: 'string', describe: 'Fail the check when the server\'s clock is further from ours than this (e.g. 500ms, 2s)', requiresArg: true },
  },
  examples: [
    ['reachgate probe ntp 192.0.2.123', 'does the time server answer, and is it synchronized?'],
    ['reachgate probe ntp 192.0.2.123 --max-offset 500ms', 'and is our clock within 500 ms of it?'],
  ],
  parseOptions(raw) {
    const text = raw['max-offset'];
    if (text === undefined || text === null) return {};
    // A profile's YAML may give a bare number, which parseDuration reads as seconds.
    if (typeof text !== 'string' && typeof text !== 'number') {
      throw new UsageError(`Expected the \`--max-offset\` option to be a duration like 500ms or 2s, got \`${String(text)}\` (${typeof text})`);
    }
    return { maxOffsetMs: parseDuration(String(text), '--max-offset') };
  },
  observe,
};

export default ntp;

async function observe(spec: ProbeSpec<NtpOptions>, context: ProbeContext): Promise<Observation> {
  const outcome = await exchangeWithTarget(spec, context, ntpCodec());
  if (outcome.kind === 'failed') {
    return failureObservation(outcome, outcome.attempts, context.icmpNote, 'udp');
  }
  if (outcome.kind === 'reply') return answered(outcome.reply, spec.options, outcome.attempts, outcome.rttMs);
  // A RATE kiss does not end the exchange (a later attempt may be answered); if nothing else came, it is the answer.
  if (outcome.lastReply) return answered(outcome.lastReply, spec.options, outcome.attempts);
  return { state: 'filtered', reason: silenceReason(spec.timeoutMs, outcome.attempts), attempts: outcome.attempts };
}

function answered(reply: NtpReply, options: NtpOptions, attempts: number, rttMs?: number): Observation {
  const check = checkReply(reply, options);
  const head = rttMs === undefined ? 'NTP server answered' : `NTP server answered in ${formatMs(rttMs)}`;
  return {
    state: 'open',
    check,
    reason: `${head}${check.ok ? ': ' : ', but '}${check.detail}`,
    ...(rttMs === undefined ? {} : { rtt_ms: rttMs }),
    attempts,
    evidence: evidenceOf(reply),
  };
}

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
export function parseReply(datagram: Buffer): { reply: Omit<NtpReply, 'sentMs' | 'arrivedMs'>; originate: Buffer } | undefined {
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
export function offsetAndDelay(reply: Pick<NtpReply, 'sentMs' | 'receiveMs' | 'transmitMs' | 'arrivedMs'>): { offsetMs: number; delayMs: number } {
  const { sentMs: t1, receiveMs: t2, transmitMs: t3, arrivedMs: t4 } = reply;
  return { offsetMs: ((t2 - t1) + (t3 - t4)) / 2, delayMs: (t4 - t1) - (t3 - t2) };
}

/** Whether the reply is a Kiss-o'-Death, comes from an unsynchronized server, or is too far from our clock. */
export function checkReply(reply: NtpReply, options: NtpOptions): Check {
  if (reply.kiss) return { ok: false, detail: `Kiss-o'-Death ${reply.kiss}: ${KISS_MEANING[reply.kiss]}` };
  if (reply.leap === 3 || reply.stratum === 0 || reply.stratum >= 16) {
    return { ok: false, detail: `unsynchronized (leap ${reply.leap}, stratum ${reply.stratum}): the server has no good time to give` };
  }
  const { offsetMs, delayMs } = offsetAndDelay(reply);
  if (options.maxOffsetMs !== undefined && Math.abs(offsetMs) > options.maxOffsetMs) {
    return { ok: false, detail: `offset ${signedMs(offsetMs)} is beyond --max-offset ${formatMs(options.maxOffsetMs)} (stratum ${reply.stratum})` };
  }
  return { ok: true, detail: `stratum ${reply.stratum}, offset ${signedMs(offsetMs)}, delay ${formatMs(Math.max(0, delayMs))}` };
}

/** What the reply shows, for the result's evidence. */
function evidenceOf(reply: NtpReply): Record<string, unknown> {
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
  return { ...evidence, offset_ms: round3(offsetMs), delay_ms: round3(delayMs), server_time: new Date(reply.transmitMs).toISOString() };
}

/** Stratum 0 and 1 carry four ASCII characters (a kiss code or a clock source such as GPS); higher strata an IPv4 address. */
function refidText(reply: NtpReply): string {
  const text = reply.refid.toString('latin1').replace(/\0+$/, '');
  if (reply.stratum <= 1 && /^[\x20-\x7e]+$/.test(text)) return text;
  return [...reply.refid].join('.');
}

function signedMs(ms: number): string {
  const size = formatMs(Math.abs(ms));
  return `${ms < 0 && size !== formatMs(0) ? '-' : '+'}${size}`;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
