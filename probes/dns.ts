import { randomInt } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type RecordType } from 'dns-packet';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Check, Observation } from '../src/core/result.js';
import { answeredWith, silentAfter } from '../src/core/observation.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs } from '../src/core/duration.js';
import { flag, optionalString } from '../src/core/option-values.js';
import { exchangeWithTarget, type UdpCodec } from '../src/net/udp-exchange.js';
import { connectToTarget } from '../src/net/tcp-connect.js';
import { failureObservation } from '../src/net/classify.js';
import { lengthPrefixed, readFramed } from '../src/net/framed-read.js';
import { formatEndpoint } from '../src/net/target.js';
import { showBytes } from '../src/net/reply.js';
import { observeWithTrace, TRACE_CLI_OPTION, traceOption, type TraceMode } from '../src/net/trace.js';

/** Record types a dns probe may ask for. */
export const QUERY_TYPES = ['A', 'AAAA', 'PTR', 'SRV', 'TXT', 'MX', 'SOA', 'NS', 'ANY'] as const;

/** One of {@link QUERY_TYPES}. */
export type QueryType = (typeof QUERY_TYPES)[number];

/** Response codes of RFC 1035 and RFC 2136, by name. */
export const RCODES = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
] as const;

/** Options of the dns probe. */
export interface DnsOptions {
  /** The name asked about; `.` is the root. */
  name: string;
  type: QueryType;
  /** Ask over TCP (with the 2-byte length prefix) instead of UDP. */
  tcp: boolean;
  /** Set RD: ask the server to recurse. */
  recurse: boolean;
  /** The response code the answer must carry. */
  expectRcode: string;
  /** Addresses that must all be in the answer's A/AAAA records. */
  expectAddresses: string[];
  /** Trace where the path dies, with the probe's own request (see src/net/trace.ts). */
  trace?: TraceMode;
}

/** A DNS query over UDP (or TCP) that passes only on a valid answer to it, whatever its rcode proves. */
export const dns: ProbeKind<DnsOptions> = {
  name: 'dns',
  summary: 'DNS query over UDP or TCP; any valid answer proves the server, the rcode and addresses are checks',
  protocol: 'udp',
  protocolFor: (options) => (options.tcp ? 'tcp' : 'udp'),
  defaultPort: 53,
  defaultAttempts: 3,
  cliOptions: {
    name: {
      type: 'string',
      describe:
        'Name to ask about; an IP address with --type PTR is turned into its reverse name (default: the root `.`, which every resolver answers)',
      requiresArg: true,
    },
    type: {
      type: 'string',
      describe: `Record type: ${QUERY_TYPES.join(', ')} (default: NS for the root, A for any other name)`,
      requiresArg: true,
    },
    tcp: {
      type: 'boolean',
      describe: 'Ask over TCP instead of UDP (a truncated UDP answer is asked again over TCP anyway)',
    },
    recurse: {
      type: 'boolean',
      describe:
        'Ask the server to recurse (RD, default); --no-recurse asks an authoritative server about its own zones',
    },
    'expect-rcode': {
      type: 'string',
      describe: 'Response code the answer must carry (default: NOERROR)',
      requiresArg: true,
    },
    'expect-address': {
      type: 'string',
      describe: 'IP address that must be in the answer; repeat it for several, each must be there',
      requiresArg: true,
    },
    trace: TRACE_CLI_OPTION,
  },
  examples: [
    ['reachgate probe dns 192.0.2.53', 'does this resolver answer (the root NS query)?'],
    [
      'reachgate probe dns 192.0.2.53 --name tg.example --expect-address 198.51.100.10',
      'does it resolve tg.example to the right address?',
    ],
    [
      'reachgate probe dns 192.0.2.53 --tcp --name tg.example --type SOA --no-recurse',
      'is the zone served over TCP, authoritatively?',
    ],
  ],
  parseOptions,
  observe,
};

export default dns;

function parseOptions(raw: Record<string, unknown>): DnsOptions {
  const typeText = optionalString(raw, 'type');
  const type = typeText === undefined ? undefined : typeText.toUpperCase();
  if (type !== undefined && !isQueryType(type)) {
    throw new UsageError(`Expected the \`--type\` option to be one of ${QUERY_TYPES.join(', ')}, got \`${typeText}\``);
  }
  const nameText = optionalString(raw, 'name') ?? '.';
  const queryType: QueryType = type ?? (nameText === '.' ? 'NS' : 'A');
  const name = queryType === 'PTR' && isIP(nameText) ? reverseName(nameText) : checkedName(nameText);
  const rcodeText = optionalString(raw, 'expect-rcode') ?? 'NOERROR';
  const expectRcode = rcodeText.toUpperCase();
  if (!(RCODES as readonly string[]).includes(expectRcode)) {
    throw new UsageError(
      `Expected the \`--expect-rcode\` option to be one of ${RCODES.join(', ')}, got \`${rcodeText}\``,
    );
  }
  const expectAddresses = addressList(raw['expect-address']);
  const wrongFamily = expectAddresses.find((address) => !addressFits(address, queryType));
  if (wrongFamily !== undefined) {
    throw new UsageError(
      `\`--expect-address ${wrongFamily}\` can never be in the answer to a query for ${queryType} records`,
      'IPv4 addresses need --type A, IPv6 addresses --type AAAA (ANY takes both)',
    );
  }
  const trace = traceOption(raw);
  return {
    name,
    type: queryType,
    tcp: flag(raw, 'tcp'),
    recurse: raw.recurse === undefined ? true : flag(raw, 'recurse'),
    expectRcode,
    expectAddresses,
    ...(trace ? { trace } : {}),
  };
}

function isQueryType(type: string): type is QueryType {
  return (QUERY_TYPES as readonly string[]).includes(type);
}

/** A name the wire can carry: labels of 1 to 63 printable ASCII characters, 253 in all (RFC 1035 2.3.4). */
function checkedName(text: string): string {
  if (text === '.') return text;
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  const labels = name.split('.');
  if (
    !/^[\x21-\x7e]+$/.test(name) ||
    name.length > 253 ||
    labels.some((label) => label.length === 0 || label.length > 63)
  ) {
    throw new UsageError(
      `Expected the \`--name\` option to be a domain name, got \`${text}\``,
      'Labels of 1 to 63 ASCII characters, 253 in all, e.g. tg.example (internationalised names in their xn-- form); `.` is the root',
    );
  }
  return name;
}

/** The in-addr.arpa or ip6.arpa name of an address (RFC 1035 3.5, RFC 3596 2.5). */
function reverseName(address: string): string {
  if (isIP(address) === 4) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${[...ipv6Hex(address)].reverse().join('.')}.ip6.arpa`;
}

/** The 32 hex digits of an IPv6 address. */
function ipv6Hex(address: string): string {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => group.padStart(4, '0')).join('');
}

function addressList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const values = Array.isArray(value) ? value : [value];
  return values.map((item) => {
    if (typeof item !== 'string' || !isIP(item)) {
      throw new UsageError(
        `Expected the \`--expect-address\` option to be an IP address, got \`${String(item)}\``,
        'e.g. --expect-address 198.51.100.10 --expect-address 2001:db8::10',
      );
    }
    return item;
  });
}

function addressFits(address: string, type: QueryType): boolean {
  return type === 'ANY' || (type === 'A' && isIP(address) === 4) || (type === 'AAAA' && isIP(address) === 6);
}

/** A decoded DNS message; dns-packet decodes the rcode by name, though its types leave it out. */
type DnsMessage = DecodedPacket & { rcode: string };

/** A reply that answers our query, and how it came. */
interface Answered {
  message: DnsMessage;
  rttMs: number;
  transport: 'udp' | 'tcp';
}

/** The TCP leg of a probe: an answer, or why there is none. */
type TcpLeg =
  | { kind: 'answer'; answered: Answered }
  | { kind: 'failed'; observation: Observation }
  | { kind: 'no-answer'; rttMs: number; detail: string };

function observe(spec: ResolvedProbeSpec<DnsOptions>, context: ProbeContext): Promise<Observation> {
  const { options } = spec;
  const what = options.tcp
    ? { protocol: 'tcp' as const }
    : { protocol: 'udp' as const, payload: () => dnsCodec(options).request(0) };
  return observeWithTrace(spec, context, what, () => observeQuery(spec, context));
}

async function observeQuery(spec: ResolvedProbeSpec<DnsOptions>, context: ProbeContext): Promise<Observation> {
  if (spec.options.tcp) {
    const leg = await askOverTcp(spec, context);
    if (leg.kind === 'failed') return leg.observation;
    if (leg.kind === 'no-answer') {
      return answeredWith(`connected in ${formatMs(leg.rttMs)} over TCP`, [{ ok: false, detail: leg.detail }], {
        rtt_ms: leg.rttMs,
        attempts: 1,
        evidence: baseEvidence(spec, 'tcp'),
      });
    }
    return checkedAnswer(spec, leg.answered, 1);
  }
  const outcome = await exchangeWithTarget(spec, context, dnsCodec(spec.options));
  if (outcome.kind === 'silent') {
    return silentAfter(spec.timeoutMs, outcome.attempts, {
      meaning: 'silently dropped (by a filter on the way, or by a server that ignores queries from this client)',
    });
  }
  if (outcome.kind === 'failed') {
    return failureObservation(outcome, outcome.attempts, context.icmpNote, 'udp');
  }
  const answered: Answered = { message: outcome.reply, rttMs: outcome.rttMs, transport: 'udp' };
  if (!outcome.reply.flag_tc) return checkedAnswer(spec, answered, outcome.attempts);
  // RFC 7766 5: a truncated answer is asked again over TCP; the UDP answer already proved the server.
  const leg = await askOverTcp(spec, context);
  if (leg.kind === 'answer') return checkedAnswer(spec, answered, outcome.attempts, leg.answered);
  const why = leg.kind === 'failed' ? leg.observation.reason : leg.detail;
  const retry = { ok: false, detail: `the answer was truncated (TC) and asking again over TCP failed: ${why}` };
  return answeredWith(`answered in ${formatMs(outcome.rttMs)} over UDP`, [retry], {
    rtt_ms: outcome.rttMs,
    attempts: outcome.attempts,
    evidence: { ...messageEvidence(spec, answered), truncated_over_udp: true },
  });
}

/** The observation of a valid answer, its rcode and addresses checked; `full` is the TCP answer to a truncated one. */
function checkedAnswer(
  spec: ResolvedProbeSpec<DnsOptions>,
  first: Answered,
  attempts: number,
  full?: Answered,
): Observation {
  const { expectRcode, expectAddresses } = spec.options;
  const final = full ?? first;
  const { rcode } = final.message;
  const answers = final.message.answers ?? [];
  const how = full
    ? `answered in ${formatMs(first.rttMs)} over UDP, truncated, and in full over TCP in ${formatMs(full.rttMs)}`
    : `answered in ${formatMs(first.rttMs)} over ${first.transport.toUpperCase()}`;
  const missing = expectAddresses.filter((address) => !answers.some((answer) => hasAddress(answer, address)));
  let check: Check;
  if (rcode !== expectRcode) check = { ok: false, detail: `${rcode}, expected ${expectRcode}` };
  else if (missing.length > 0) {
    const are = missing.length === 1 ? 'is' : 'are';
    check = { ok: false, detail: `${missing.join(', ')} ${are} not in the answer (${describeAnswers(answers)})` };
  } else check = { ok: true, detail: `${rcode}: ${describeAnswers(answers)}` };
  return answeredWith(how, [check], {
    rtt_ms: first.rttMs,
    attempts,
    evidence: { ...messageEvidence(spec, final), ...(full ? { truncated_over_udp: true } : {}) },
  });
}

function hasAddress(answer: Answer, expected: string): boolean {
  if ((answer.type !== 'A' && answer.type !== 'AAAA') || typeof answer.data !== 'string') return false;
  const family = isIP(expected) === 6 ? 'ipv6' : 'ipv4';
  if (isIP(answer.data) !== isIP(expected)) return false;
  // BlockList compares addresses, not spellings: 2001:db8::a equals 2001:0db8:0:0:0:0:0:a.
  const list = new BlockList();
  list.addAddress(expected, family);
  return list.check(answer.data, family);
}

const SHOWN_ANSWERS = 3;
/** The largest message a 2-byte length prefix can announce. */
const MAX_MESSAGE_BYTES = 0xffff;
const EVIDENCE_ANSWERS = 32;

/** The first few answer records, the way zone files write them. */
function describeAnswers(answers: Answer[]): string {
  if (answers.length === 0) return 'no answer records';
  const shown = answers.slice(0, SHOWN_ANSWERS).map((answer) => `${answer.type} ${answerData(answer, 60)}`);
  return `${shown.join(', ')}${answers.length > SHOWN_ANSWERS ? ` and ${answers.length - SHOWN_ANSWERS} more` : ''}`;
}

function baseEvidence(spec: ResolvedProbeSpec<DnsOptions>, transport: 'udp' | 'tcp'): Record<string, unknown> {
  return {
    server: formatEndpoint(spec.target.address, spec.target.port),
    transport,
    question: { name: spec.options.name, type: spec.options.type },
  };
}

function messageEvidence(spec: ResolvedProbeSpec<DnsOptions>, answered: Answered): Record<string, unknown> {
  const { message } = answered;
  const answers = message.answers ?? [];
  return {
    ...baseEvidence(spec, answered.transport),
    rcode: message.rcode,
    flags: { aa: message.flag_aa, tc: message.flag_tc, ra: message.flag_ra },
    answers: answers
      .slice(0, EVIDENCE_ANSWERS)
      .map((answer) => ({ type: answer.type, name: answer.name, data: answerData(answer, 512) })),
    ...(answers.length > EVIDENCE_ANSWERS ? { answers_total: answers.length } : {}),
  };
}

/** Record data the way zone files write it. */
function answerData(answer: Answer, limit: number): string {
  const text = ((): string => {
    switch (answer.type) {
      case 'MX':
        return `${answer.data.preference ?? 0} ${answer.data.exchange}`;
      case 'SRV':
        return `${answer.data.priority ?? 0} ${answer.data.weight ?? 0} ${answer.data.port} ${answer.data.target}`;
      case 'SOA': {
        const soa = answer.data;
        return `${soa.mname} ${soa.rname} ${soa.serial ?? 0} ${soa.refresh ?? 0} ${soa.retry ?? 0} ${soa.expire ?? 0} ${soa.minimum ?? 0}`;
      }
      case 'TXT': {
        const strings = Array.isArray(answer.data) ? answer.data : [answer.data];
        return strings.map((part) => showBytes(Buffer.from(part), 255)).join(' ');
      }
      case 'OPT':
        return 'OPT';
      default: {
        const data: unknown = answer.data;
        if (typeof data === 'string') return data;
        return Buffer.isBuffer(data) ? data.toString('hex') : JSON.stringify(data);
      }
    }
  })();
  return text.length > limit ? `${text.slice(0, limit)}...` : text;
}

/** The query of one attempt; each attempt gets a fresh random id, and a reply may answer any of them. */
function dnsCodec(options: DnsOptions): UdpCodec<DnsMessage> {
  const attemptOf = new Map<number, number>();
  return {
    request(attempt) {
      let id = randomInt(0, 0x10000);
      while (attemptOf.has(id)) id = (id + 1) & 0xffff;
      attemptOf.set(id, attempt);
      return encodeQuery(options, id);
    },
    accept(datagram) {
      if (datagram.length < 12) return undefined;
      const attempt = attemptOf.get(datagram.readUInt16BE(0));
      if (attempt === undefined) return undefined;
      const message = answerTo(datagram, options);
      return message ? { reply: message, attempt } : undefined;
    },
  };
}

function encodeQuery(options: DnsOptions, id: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: options.recurse ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ name: options.name, type: options.type as RecordType, class: 'IN' }],
  });
}

/** The message, when it is a response (QR) that echoes our question; the caller checks the id. */
function answerTo(bytes: Buffer, options: DnsOptions): DnsMessage | undefined {
  let message: DnsMessage;
  try {
    message = dnsPacket.decode(bytes) as DnsMessage;
  } catch {
    return undefined;
  }
  const question = message.questions?.[0];
  const echoed =
    message.questions?.length === 1 &&
    question !== undefined &&
    canonicalName(question.name) === canonicalName(options.name) &&
    question.type === options.type &&
    (question.class ?? 'IN') === 'IN';
  return message.flag_qr && echoed ? message : undefined;
}

function canonicalName(name: string): string {
  return name === '.' ? name : name.replace(/\.$/, '').toLowerCase();
}

/** Ask once over TCP: connect (classified like the tcp probe), send the length-prefixed query, read one answer. */
async function askOverTcp(spec: ResolvedProbeSpec<DnsOptions>, context: ProbeContext): Promise<TcpLeg> {
  const connection = await connectToTarget(spec, context, { attempts: 1 });
  if (connection.kind === 'unanswered') {
    const { observation } = connection;
    if (observation.state !== 'filtered') return { kind: 'failed', observation };
    return { kind: 'failed', observation: { ...observation, reason: `${observation.reason} (TCP connect)` } };
  }
  const { socket, rttMs } = connection;
  try {
    const id = randomInt(0, 0x10000);
    const query = encodeQuery(spec.options, id);
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(query.length);
    const sentAt = performance.now();
    socket.write(Buffer.concat([prefix, query]));
    // RFC 1035 4.2.2: a 2-byte length, then the message.
    const framing = { frame: lengthPrefixed(2, MAX_MESSAGE_BYTES), maxBytes: 2 + MAX_MESSAGE_BYTES };
    const read = await readFramed(socket, { ...framing, signal: context.signal });
    if (!read.frame) {
      const detail =
        read.end === 'closed'
          ? `the server closed the connection without an answer${read.bytes.length > 0 ? ` after ${showBytes(read.bytes)}` : ''}`
          : `no answer within ${formatMs(spec.timeoutMs)}`;
      return { kind: 'no-answer', rttMs, detail };
    }
    const bytes = read.frame.subarray(2);
    const message = bytes.length >= 2 && bytes.readUInt16BE(0) === id ? answerTo(bytes, spec.options) : undefined;
    if (!message) {
      return {
        kind: 'no-answer',
        rttMs,
        detail: `the server sent something that is not an answer to our query: ${showBytes(bytes)}`,
      };
    }
    return { kind: 'answer', answered: { message, rttMs: performance.now() - sentAt, transport: 'tcp' } };
  } finally {
    socket.destroy();
  }
}
