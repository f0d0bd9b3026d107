import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { IcmpListener } from '../core/icmp.js';
import type { ProbeContext, ResolvedProbeSpec } from '../core/probe-kind.js';
import type { Observation, State } from '../core/result.js';
import { DEADLINE } from '../core/runner.js';
import { judge } from '../core/verdict.js';
import { echoRequest, parseEchoReply } from './icmp-echo.js';
import { meaningOf, parseIcmp4, parseIcmp6, type IcmpError } from './icmp-packet.js';
import { canonicalAddress, MAX_TAG, sharedSynScanner, takePorts } from './syn-scanner.js';
import { quotedTransport } from './tcp-segment.js';
import { traceModeOf, type TraceMode } from './trace-option.js';

export { TRACE_CLI_OPTION, traceModeOf, traceOption, type TraceMode } from './trace-option.js';

// --trace (issue 13): where a path dies. Probes of the probe's own protocol and port go out at once with TTL
// (IPv6 hop limit) 1, 2, ... n; each router on the way answers the one whose TTL ran out there with ICMP
// time-exceeded, naming itself. The first hop that rejects, or the destination answering, ends the path;
// silence past the last router that answered is a silent drop after that hop.

/** Hops traced at most. */
export const TRACE_HOPS = 12;

/** One hop that answered a traced probe. */
export interface TraceHop {
  hop: number;
  /** The router or host that answered. */
  from: string;
  /** `time-exceeded` for a router that forwarded; an ICMP error name, `syn-ack`, `reset` or `reply` at the end. */
  answer: string;
  rtt_ms: number;
}

/** Where a path ended. */
export type TraceEnd = 'reached' | 'rejected' | 'unreachable' | 'dropped' | 'silent' | 'not-traced';

/** What a trace found: the evidence a result carries as `evidence.trace`. */
export interface Trace {
  protocol: 'tcp' | 'udp' | 'icmp';
  max_hops: number;
  hops: TraceHop[];
  end: TraceEnd;
  /** One line: "forwarded by 192.0.2.1 (hop 1), 203.0.113.2 (hop 2); silently dropped after hop 2". */
  summary: string;
}

/** What to trace. */
export interface TraceRequest {
  protocol: 'tcp' | 'udp' | 'icmp';
  address: string;
  /** Remote port (0 for ICMP). */
  port: number;
  /** UDP: the probe's own request, so a filter that looks into payloads treats the traced probes alike. */
  payload?: Buffer;
  maxHops?: number;
  /** Ends the trace with what it has. */
  signal: AbortSignal;
  icmp: IcmpListener | null;
}

/** A running trace: its result once every hop up to the end answered, or at the signal. */
export interface RunningTrace {
  done: Promise<Trace>;
}

interface Answer {
  from: string;
  answer: string;
  rttMs: number;
  /** Ends the path: the destination answered, or a router rejected. */
  end?: 'reached' | 'rejected' | 'unreachable';
}

/** Start a trace now; it sends every hop's probe at once and ends at its signal at the latest. */
export function startTrace(request: TraceRequest): RunningTrace {
  const maxHops = Math.min(request.maxHops ?? TRACE_HOPS, MAX_TAG);
  const notTraced = (why: string): RunningTrace => ({
    done: Promise.resolve({
      protocol: request.protocol,
      max_hops: maxHops,
      hops: [],
      end: 'not-traced',
      summary: `not traced: ${why}`,
    }),
  });
  if (request.signal.aborted) return notTraced('the deadline came before the trace could start');
  if (!request.icmp)
    return notTraced('the ICMP listener is off, and routers answer a trace with ICMP (needs CAP_NET_RAW)');
  const answers = new Map<number, Answer>();
  const cleanups: Array<() => void> = [];
  const startedAt = performance.now();
  let finish: (() => void) | undefined;
  const done = new Promise<Trace>((resolve) => {
    let finished = false;
    finish = () => {
      if (finished) return;
      finished = true;
      request.signal.removeEventListener('abort', finishNow);
      for (const cleanup of cleanups) cleanup();
      resolve(summarize(request.protocol, maxHops, answers));
    };
    const finishNow = (): void => finish?.();
    if (request.signal.aborted) return;
    request.signal.addEventListener('abort', finishNow, { once: true });
  });
  const record = (hop: number, answer: Omit<Answer, 'rttMs'>): void => {
    if (hop < 1 || hop > maxHops || answers.has(hop)) return;
    answers.set(hop, { ...answer, rttMs: performance.now() - startedAt });
    if (complete(answers)) finish?.();
  };
  const fromIcmp = (hop: number, icmp: IcmpError): void => {
    const { state, name } = meaningOf(icmp);
    if (name === 'time-exceeded') return record(hop, { from: icmp.from, answer: name });
    const end = state === 'prohibited' ? 'rejected' : state === 'closed' ? 'reached' : 'unreachable';
    record(hop, { from: icmp.from, answer: name, end });
  };
  const start = { tcp: traceTcp, udp: traceUdp, icmp: traceEcho }[request.protocol];
  const why = start(request, maxHops, { record, fromIcmp, cleanups });
  if (why !== undefined) {
    finish?.();
    return notTraced(why);
  }
  if (request.signal.aborted) finish?.();
  return { done };
}

interface Sink {
  record(hop: number, answer: Omit<Answer, 'rttMs'>): void;
  fromIcmp(hop: number, icmp: IcmpError): void;
  cleanups: Array<() => void>;
}

/** TCP: SYNs from the SYN scanner, each hop's TTL in its cookie's tag; returns why not, when it cannot. */
function traceTcp(request: TraceRequest, maxHops: number, sink: Sink): string | undefined {
  const { start, release } = sharedSynScanner();
  sink.cleanups.push(release);
  const { scanner } = start;
  if (!scanner) return start.why;
  if (!scanner.supports(request.address)) return 'no raw IPv6 TCP socket on this host';
  scanner.useIcmp(request.icmp);
  // One source port of its own for the trace's SYNs: the hop is the tag, and no probe of the same port hears them.
  const block = takePorts(1);
  sink.cleanups.push(
    scanner.hear(request.address, request.port, block, (answer) => {
      if (answer.tag === 0) return;
      if (answer.kind === 'icmp') sink.fromIcmp(answer.tag, answer.icmp);
      else sink.record(answer.tag, { from: answer.from, answer: answer.kind, end: 'reached' });
    }),
  );
  for (let hop = 1; hop <= maxHops; hop++) scanner.send(request.address, request.port, block.base, hop).catch(() => {});
  return undefined;
}

/** UDP: one socket per hop with its TTL set, sending the probe's payload; ICMP errors name the hop by local port. */
function traceUdp(request: TraceRequest, maxHops: number, sink: Sink): string | undefined {
  const family = isIP(request.address) === 6 ? 6 : 4;
  const target = canonicalAddress(request.address);
  const hopByPort = new Map<number, number>();
  const sockets: Socket[] = [];
  sink.cleanups.push(() => {
    for (const socket of sockets) socket.close();
  });
  sink.cleanups.push(
    request.icmp!.listen((from, packet, source) => {
      const icmp = from === 4 ? parseIcmp4(packet, source) : parseIcmp6(packet, source);
      if (!icmp || icmp.quoted.protocol !== 'udp' || icmp.quoted.destinationPort !== request.port) return;
      if (canonicalAddress(icmp.quoted.destination) !== target) return;
      const hop = hopByPort.get(icmp.quoted.sourcePort);
      if (hop !== undefined) sink.fromIcmp(hop, icmp);
    }),
  );
  const payload = request.payload ?? Buffer.alloc(0);
  for (let hop = 1; hop <= maxHops; hop++) {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on('message', (_message, remote) => {
      sink.record(hop, { from: remote.address, answer: 'reply', end: 'reached' });
    });
    socket.bind(0, () => {
      socket.setTTL(hop);
      hopByPort.set(socket.address().port, hop);
      socket.send(payload, request.port, request.address);
    });
  }
  return undefined;
}

interface RawIcmpSender {
  wrap: {
    send(buffer: Buffer, offset: number, length: number, address: string, callback: () => void): void;
    setOption(level: number, option: number, value: Buffer, length: number): void;
  };
  pauseRecv(): void;
  on(event: 'error', callback: () => void): void;
  close(): void;
}

/** ICMP echo: requests with TTL n and sequence n from a raw socket of its own; replies come through the listener. */
function traceEcho(request: TraceRequest, maxHops: number, sink: Sink): string | undefined {
  const family = isIP(request.address) === 6 ? 6 : 4;
  let sender: RawIcmpSender;
  try {
    const raw = createRequire(import.meta.url)('raw-socket') as {
      createSocket(options: { addressFamily: number; protocol: number }): RawIcmpSender;
    };
    sender = raw.createSocket({ addressFamily: family === 6 ? 2 : 1, protocol: family === 6 ? 58 : 1 });
  } catch (error) {
    return `no raw ICMP socket to send with a TTL: ${(error as Error).message}`;
  }
  sender.on('error', () => {});
  // Sending only: the listener reads what comes back.
  sender.pauseRecv();
  sink.cleanups.push(() => sender.close());
  const identifier = randomInt(1, 0x10000);
  const token = randomBytes(8);
  const target = canonicalAddress(request.address);
  sink.cleanups.push(
    request.icmp!.listen((from, packet, source) => {
      const reply = parseEchoReply(family, packet, identifier, token);
      if (reply && canonicalAddress(source) === target) {
        return sink.record(reply.sequence, { from: source, answer: 'reply', end: 'reached' });
      }
      const icmp = from === 4 ? parseIcmp4(packet, source) : parseIcmp6(packet, source);
      if (!icmp || icmp.quoted.protocol !== 'icmp' || icmp.quoted.sourcePort !== identifier) return;
      const quoted = quotedTransport(from, packet);
      if (quoted) sink.fromIcmp(quoted.readUInt16BE(6), icmp);
    }),
  );
  const hops = Buffer.alloc(4);
  for (let hop = 1; hop <= maxHops; hop++) {
    hops.writeInt32LE(hop);
    try {
      if (family === 4) sender.wrap.setOption(0, 2, hops, 4);
      else sender.wrap.setOption(41, 16, hops, 4);
      const message = echoRequest(family, identifier, hop, token);
      sender.wrap.send(message, 0, message.length, request.address, () => {});
    } catch {
      // A hop that cannot be sent (no route) stays silent in the trace.
    }
  }
  return undefined;
}

/** Whether the trace can end: a hop ended the path and every hop before it answered. */
function complete(answers: Map<number, Answer>): boolean {
  const end = endHop(answers);
  if (end === undefined) return false;
  for (let hop = 1; hop < end; hop++) if (!answers.has(hop)) return false;
  return true;
}

function endHop(answers: Map<number, Answer>): number | undefined {
  let end: number | undefined;
  for (const [hop, answer] of answers) if (answer.end && (end === undefined || hop < end)) end = hop;
  return end;
}

/** The hops in order and one line that says where the path went and where it ended. */
export function summarize(
  protocol: Trace['protocol'],
  maxHops: number,
  answers: Map<number, Answer>,
  oneWay = false,
): Trace {
  const end = endHop(answers);
  const endAnswer = end === undefined ? undefined : answers.get(end);
  const last = end ?? Math.max(0, ...answers.keys());
  // A router that rejects a probe forwarded none: it is the hop whose time-exceeded named it, or the one before.
  const routerHop =
    end === undefined || endAnswer?.end === 'reached'
      ? undefined
      : ([...answers].find(([hop, other]) => hop < end && other.from === endAnswer!.from)?.[0] ?? end - 1);
  const hops: TraceHop[] = [...answers]
    .filter(([hop]) => hop <= last)
    .sort(([a], [b]) => a - b)
    .map(([hop, answer]) => ({ hop, from: answer.from, answer: answer.answer, rtt_ms: round3(answer.rttMs) }));
  const forwarded: string[] = [];
  const lastForwarder = routerHop === undefined ? (end === undefined ? last : end - 1) : routerHop - 1;
  for (let hop = 1; hop <= lastForwarder; hop++) {
    const answer = answers.get(hop);
    forwarded.push(answer ? `${answer.from} (hop ${hop})` : `no answer (hop ${hop})`);
  }
  const path = forwarded.length > 0 ? `forwarded by ${forwarded.join(', ')}; ` : '';
  const trace = (endOf: TraceEnd, what: string): Trace => ({
    protocol,
    max_hops: maxHops,
    hops,
    end: endOf,
    summary: `${path}${what}`,
  });
  if (end === undefined || endAnswer === undefined) {
    if (last === 0) {
      return trace('dropped', 'no hop answered: dropped before hop 1, or no router on the way sends time-exceeded');
    }
    if (last >= maxHops) return trace('dropped', `no end within ${maxHops} hops`);
    if (oneWay) {
      return trace(
        'silent',
        `silent after hop ${last} (the far end never answers this datagram: delivered or dropped)`,
      );
    }
    return trace('dropped', `silently dropped after hop ${last}`);
  }
  if (endAnswer.end === 'reached') {
    const how = endAnswer.answer === 'reply' || endAnswer.answer === 'syn-ack' ? '' : ` (${endAnswer.answer})`;
    return trace('reached', `reached ${endAnswer.from} (hop ${end})${how}`);
  }
  const hop = routerHop !== undefined && routerHop >= 1 ? ` (hop ${routerHop})` : '';
  if (endAnswer.end === 'rejected') {
    return trace('rejected', `rejected by ${endAnswer.from}${hop} with ICMP ${endAnswer.answer}`);
  }
  return trace('unreachable', `${endAnswer.from}${hop} answered ICMP ${endAnswer.answer}`);
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** What a kind traces with: its protocol, and for UDP its request and whether anything answers it. */
export interface TracedAs {
  protocol: TraceRequest['protocol'];
  /**
   * A request like the probe's own (same protocol, port, size and shape; a fresh id or nonce, so no traced copy
   * is taken for the probe's answer or receipt), made only when the trace starts.
   */
  payload?: () => Buffer;
  /** One-way: `confirmed` when a responder is asked during the probe, `unconfirmed` when nothing can tell. */
  oneWay?: 'confirmed' | 'unconfirmed';
}

/** A trace of a one-way datagram whose fate nobody saw: silence after the last router is `silent`, not a drop. */
export function asOneWay(trace: Trace): Trace {
  const answers = new Map(
    trace.hops.map((hop) => [hop.hop, { from: hop.from, answer: hop.answer, rttMs: hop.rtt_ms }]),
  );
  return summarize(trace.protocol, trace.max_hops, answers, true);
}

/** States of a probe whose packets went out: the rest (error, unresolved) have no path to trace. */
const TRACEABLE: ReadonlySet<State> = new Set(['open', 'closed', 'filtered', 'prohibited', 'unreachable']);

/**
 * Observe a probe, and trace its path when its mode asks for it: `on` always, `on-fail` when the verdict is not
 * pass (a blocked row that passes needs no trace, and routers rate-limit the ICMP a trace asks for). The trace starts once the probe answered
 * (its own answers and ICMP errors come first, before routers' rate limits count the trace's), or halfway to
 * the deadline while it is silent, and ends at the deadline at the latest: it costs the probe no extra time.
 * Without a mode, rows of a profile trace on failure and command-line probes and sweeps do not.
 */
export async function observeWithTrace(
  spec: ResolvedProbeSpec<{ trace?: TraceMode }>,
  context: ProbeContext,
  what: TracedAs,
  observe: () => Promise<Observation>,
): Promise<Observation> {
  const mode = traceModeOf(spec);
  if (mode === 'off') return observe();
  const stop = new AbortController();
  const onDeadline = (): void => stop.abort(DEADLINE);
  context.signal.addEventListener('abort', onDeadline, { once: true });
  let trace: RunningTrace | undefined;
  const begin = (): RunningTrace =>
    (trace ??= startTrace({
      protocol: what.protocol,
      ...(what.payload ? { payload: what.payload() } : {}),
      address: spec.target.address,
      port: spec.target.port,
      signal: stop.signal,
      icmp: context.icmp,
    }));
  // While the probe is silent, start halfway only if silence would be traced: a negative row passes on it, and
  // a one-way datagram nobody confirms stays silent whatever happened to it.
  const silenceTraced =
    mode === 'on' || (what.oneWay !== 'unconfirmed' && judge(spec.expect, 'filtered', undefined) !== 'pass');
  const halfway = silenceTraced ? setTimeout(begin, spec.timeoutMs / 2) : undefined;
  try {
    const observation = await observe();
    clearTimeout(halfway);
    const verdict = judge(spec.expect, observation.state, observation.check, observation.silenceExpected);
    const wanted = mode === 'on' || verdict === 'fail' || (verdict === 'inconclusive' && !observation.silenceExpected);
    if (!wanted || !TRACEABLE.has(observation.state)) return observation;
    let found = await begin().done;
    // Silence after the last router proves a drop only when a responder watched for the datagram and saw nothing.
    const provenDrop = observation.state === 'filtered' && !observation.silenceExpected;
    if (what.oneWay && found.end === 'dropped' && !provenDrop) found = asOneWay(found);
    return {
      ...observation,
      reason: `${observation.reason}; path: ${found.summary}`,
      evidence: { ...observation.evidence, trace: found },
    };
  } finally {
    clearTimeout(halfway);
    context.signal.removeEventListener('abort', onDeadline);
    stop.abort(DEADLINE);
  }
}
