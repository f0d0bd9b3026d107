import { randomInt } from 'node:crypto';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Check, Observation } from '../src/core/result.js';
import { answeredWith, silentAfter } from '../src/core/observation.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs } from '../src/core/duration.js';
import { flag, optionalString } from '../src/core/option-values.js';
import { exchangeWithTarget, type UdpCodec } from '../src/net/udp-exchange.js';
import { connectToTarget } from '../src/net/tcp-connect.js';
import { failureObservation } from '../src/net/classify.js';
import { lengthPrefixed, readFramed, type FramedRead } from '../src/net/framed-read.js';
import { showBytes } from '../src/net/reply.js';
import { observeWithTrace, TRACE_CLI_OPTION, traceOption, type TraceMode } from '../src/net/trace.js';
import {
  ETYPES,
  decodeKdcReply,
  encodeAsRequest,
  errorName,
  showPrincipal,
  type KdcReply,
} from '../src/net/kerberos.js';

/** Options of the kerberos probe. */
export interface KerberosOptions {
  /** The realm the KDC must serve, e.g. EXAMPLE.ORG. */
  realm: string;
  /** Client principal name components; made up by default, so the KDC answers "unknown". */
  principal: string[];
  /** Speak Kerberos over TCP (4-byte length prefix) instead of UDP. */
  tcp: boolean;
  /** The principal must exist: a C_PRINCIPAL_UNKNOWN answer fails the check. */
  expectKnownPrincipal: boolean;
  /** Trace where the path dies, with the probe's own request (see src/net/trace.ts). */
  trace?: TraceMode;
}

const DEFAULT_PRINCIPAL = 'reachgate-probe';
const C_PRINCIPAL_UNKNOWN = 6;
const PREAUTH_REQUIRED = 25;
const WRONG_REALM = 68;
const RESPONSE_TOO_BIG = 52;
/** Largest reply read over TCP; a KDC's answer to a bare AS-REQ is a few hundred bytes. */
const MAX_TCP_REPLY_BYTES = 65_536;
/** What the errors a bare AS-REQ usually draws mean, for the reason line. */
const MEANINGS: Readonly<Record<number, string>> = {
  [C_PRINCIPAL_UNKNOWN]: 'the principal does not exist there',
  [PREAUTH_REQUIRED]: 'the principal exists and needs pre-authentication',
  18: 'the principal exists but is disabled or locked out',
  14: 'the KDC supports none of the offered encryption types',
  [RESPONSE_TOO_BIG]: 'the reply is too big for UDP; use --tcp to see it',
};

/** A Kerberos AS-REQ (RFC 4120) over UDP or TCP: any KRB-ERROR or AS-REP proves the KDC answered. */
export const kerberos: ProbeKind<KerberosOptions> = {
  name: 'kerberos',
  summary:
    'Kerberos AS-REQ for a made-up principal over UDP or --tcp; open only when the KDC answers (KRB-ERROR or AS-REP)',
  protocol: 'udp',
  protocolFor: (options) => (options.tcp ? 'tcp' : 'udp'),
  defaultPort: 88,
  defaultAttempts: 3,
  cliOptions: {
    realm: {
      type: 'string',
      describe: 'The Kerberos realm the KDC must serve, e.g. EXAMPLE.ORG (required)',
      requiresArg: true,
    },
    principal: {
      type: 'string',
      describe: `Client principal to ask a ticket for, without @REALM (default: ${DEFAULT_PRINCIPAL}, made up)`,
      requiresArg: true,
    },
    tcp: { type: 'boolean', describe: "Use TCP (Kerberos' 4-byte length framing) instead of UDP" },
    'expect-known-principal': {
      type: 'boolean',
      describe: 'Fail the check when the KDC does not know --principal (wrong realm or missing principal)',
    },
    trace: TRACE_CLI_OPTION,
  },
  examples: [
    ['reachgate probe kerberos 192.0.2.88 --realm EXAMPLE.ORG', 'does the KDC answer for its realm over UDP?'],
    ['reachgate probe kerberos 192.0.2.88 --realm EXAMPLE.ORG --tcp', 'and over TCP?'],
    [
      'reachgate probe kerberos 192.0.2.88 --realm EXAMPLE.ORG --principal svc-monitor --expect-known-principal',
      'does it know this principal in this realm?',
    ],
  ],
  parseOptions(raw) {
    const realm = optionalString(raw, 'realm');
    if (realm === undefined)
      throw new UsageError('The kerberos probe needs `--realm`: the realm the KDC serves', 'e.g. --realm EXAMPLE.ORG');
    if (!/^[\x21-\x7e]+$/.test(realm) || realm.includes('@')) {
      throw new UsageError(
        `Expected the \`--realm\` option to be a realm name like EXAMPLE.ORG (printable ASCII, no spaces or @), got \`${realm}\``,
      );
    }
    const trace = traceOption(raw);
    const principal = optionalString(raw, 'principal') ?? DEFAULT_PRINCIPAL;
    const components = principal.split('/');
    if (components.some((part) => !/^[\x21-\x7e]+$/.test(part) || part.includes('@'))) {
      throw new UsageError(
        `Expected the \`--principal\` option to be a principal name like user or service/host, without @REALM, got \`${principal}\``,
        'Give the realm with --realm',
      );
    }
    return {
      realm,
      principal: components,
      tcp: flag(raw, 'tcp'),
      expectKnownPrincipal: flag(raw, 'expect-known-principal'),
      ...(trace ? { trace } : {}),
    };
  },
  observe,
};

export default kerberos;

function observe(spec: ResolvedProbeSpec<KerberosOptions>, context: ProbeContext): Promise<Observation> {
  const request = asRequest(spec.options);
  // The same AS-REQ: a KDC's answer to a traced copy goes to the trace's own socket.
  const what = spec.options.tcp ? { protocol: 'tcp' as const } : { protocol: 'udp' as const, payload: () => request };
  return observeWithTrace(spec, context, what, () =>
    spec.options.tcp ? overTcp(spec, context, request) : overUdp(spec, context, request),
  );
}

/** A bare AS-REQ for the principal and realm, with a fresh nonce. */
function asRequest(options: KerberosOptions): Buffer {
  return encodeAsRequest({
    cname: options.principal,
    realm: options.realm,
    // MIT's KDC rejects a nonce above 2^31 - 1 (it decodes it as a signed 32-bit integer) and then stays silent.
    nonce: randomInt(1, 2 ** 31 - 1),
    etypes: [
      ETYPES['aes256-cts-hmac-sha1-96'],
      ETYPES['aes128-cts-hmac-sha1-96'],
      ETYPES['aes256-cts-hmac-sha384-192'],
      ETYPES['aes128-cts-hmac-sha256-128'],
    ],
    till: new Date(Date.now() + 86_400_000),
  });
}

async function overUdp(
  spec: ResolvedProbeSpec<KerberosOptions>,
  context: ProbeContext,
  request: Buffer,
): Promise<Observation> {
  const outcome = await exchangeWithTarget(spec, context, kdcCodec(request, spec.options));
  if (outcome.kind === 'failed') {
    return failureObservation(outcome, outcome.attempts, context.icmpNote, 'udp');
  }
  if (outcome.kind === 'silent') return silentAfter(spec.timeoutMs, outcome.attempts);
  return answered(outcome.reply, spec.options, outcome.rttMs, outcome.attempts, 'udp');
}

/** The UDP codec: the same AS-REQ each attempt; a KDC reply about our realm and principal is the answer. */
export function kdcCodec(request: Buffer, options: KerberosOptions): UdpCodec<KdcReply> {
  let lastAttempt = 0;
  return {
    request(attempt) {
      lastAttempt = attempt;
      return request;
    },
    accept(datagram) {
      const reply = decodeKdcReply(datagram);
      // Neither a KRB-ERROR nor an AS-REP carries the nonce in clear, so a reply cannot name its attempt: take the latest.
      return reply && answersUs(reply, options) ? { reply, attempt: lastAttempt } : undefined;
    },
  };
}

/** Whether a KDC reply is about what we asked: our realm (or a wrong-realm error, which may name another) and our principal. */
export function answersUs(reply: KdcReply, options: KerberosOptions): boolean {
  const realm = options.realm.toUpperCase();
  if (reply.type === 'KRB-ERROR') {
    if (reply.code === WRONG_REALM) return true;
    return reply.realm.toUpperCase() === realm && reply.sname.components[0]?.toLowerCase() === 'krbtgt';
  }
  // The AS-REP's nonce is inside the encrypted part: accept it on its cleartext names.
  return (
    reply.crealm.toUpperCase() === realm &&
    reply.cname.components.join('/').toLowerCase() === options.principal.join('/').toLowerCase()
  );
}

async function overTcp(
  spec: ResolvedProbeSpec<KerberosOptions>,
  context: ProbeContext,
  request: Buffer,
): Promise<Observation> {
  // Over TCP the kernel retransmits: one connection is the one attempt.
  const connection = await connectToTarget(spec, context, { attempts: 1 });
  if (connection.kind === 'unanswered') return connection.observation;
  const { socket } = connection;
  const started = performance.now();
  try {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(request.length);
    socket.write(Buffer.concat([length, request]));
    // RFC 4120 section 7.2.2: a 4-byte length, then the message; the length's high bit is reserved,
    // so a huge length is no Kerberos reply.
    const framing = { frame: lengthPrefixed(4, MAX_TCP_REPLY_BYTES), maxBytes: 4 + MAX_TCP_REPLY_BYTES };
    const read = await readFramed(socket, { ...framing, signal: context.signal });
    const rttMs = performance.now() - started;
    const reply = read.frame ? decodeKdcReply(read.frame.subarray(4)) : undefined;
    if (reply && answersUs(reply, spec.options)) return answered(reply, spec.options, rttMs, 1, 'tcp');
    const failure = tcpFailure(read, reply, spec.timeoutMs);
    return answeredWith(`connected in ${formatMs(connection.rttMs)}`, [failure], {
      rtt_ms: connection.rttMs,
      attempts: 1,
    });
  } finally {
    socket.destroy();
  }
}

function tcpFailure(read: FramedRead, reply: KdcReply | undefined, timeoutMs: number): Check {
  if (reply) return { ok: false, detail: `the KDC's reply is about another realm or principal (${describe(reply)})` };
  if (read.bytes.length === 0) {
    return {
      ok: false,
      detail:
        read.end === 'closed'
          ? 'the peer closed the connection without a Kerberos reply'
          : `no Kerberos reply within ${formatMs(timeoutMs)}`,
    };
  }
  return { ok: false, detail: `the reply is not a Kerberos KRB-ERROR or AS-REP: ${showBytes(read.bytes, 60)}` };
}

function answered(
  reply: KdcReply,
  options: KerberosOptions,
  rttMs: number,
  attempts: number,
  transport: 'udp' | 'tcp',
): Observation {
  const evidence = evidenceOf(reply, options, transport);
  return answeredWith(`KDC answered in ${formatMs(rttMs)}`, [checkReply(reply, options)], {
    rtt_ms: rttMs,
    attempts,
    evidence,
  });
}

function checkReply(reply: KdcReply, options: KerberosOptions): Check {
  const asked = showPrincipal({ type: 1, components: options.principal }, options.realm);
  if (reply.type === 'AS-REP')
    return { ok: true, detail: `AS-REP: it issued a ticket for ${asked} without pre-authentication` };
  if (reply.code === WRONG_REALM) {
    const elsewhere =
      reply.realm.toUpperCase() === options.realm.toUpperCase() ? '' : ` (it names realm ${reply.realm})`;
    return { ok: false, detail: `${describe(reply)}: the KDC does not serve realm ${options.realm}${elsewhere}` };
  }
  if (reply.code === C_PRINCIPAL_UNKNOWN && options.expectKnownPrincipal) {
    return {
      ok: false,
      detail: `${describe(reply)}: the KDC does not know ${asked}: the realm is wrong or the principal does not exist`,
    };
  }
  const meaning =
    reply.code === C_PRINCIPAL_UNKNOWN && options.principal.join('/') === DEFAULT_PRINCIPAL
      ? `as expected: ${DEFAULT_PRINCIPAL} is made up`
      : MEANINGS[reply.code];
  return { ok: true, detail: `${describe(reply)} for ${asked}${meaning ? ` (${meaning})` : ''}` };
}

function describe(reply: KdcReply): string {
  return reply.type === 'AS-REP'
    ? `AS-REP for ${showPrincipal(reply.cname, reply.crealm)}`
    : `KRB-ERROR ${reply.code} ${errorName(reply.code)}`;
}

function evidenceOf(reply: KdcReply, options: KerberosOptions, transport: 'udp' | 'tcp'): Record<string, unknown> {
  const principal = showPrincipal({ type: 1, components: options.principal }, options.realm);
  if (reply.type === 'AS-REP') {
    return {
      message: 'AS-REP',
      transport,
      principal,
      realm: reply.crealm,
      ticket_service: showPrincipal(reply.ticketSname, reply.ticketRealm),
    };
  }
  return {
    message: 'KRB-ERROR',
    transport,
    principal,
    error_code: reply.code,
    error_name: errorName(reply.code),
    realm: reply.realm,
    server_time: reply.stime.toISOString(),
    ...(reply.etext ? { e_text: reply.etext } : {}),
  };
}
