import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import { loadTls } from '../src/net/tls-loader.js';
import type { Check, Observation } from '../src/core/result.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs } from '../src/core/duration.js';
import { flag, optionalRegex, optionalString, requestBytes } from '../src/core/option-values.js';
import { optionalAddress, optionalFileText } from '../src/net/option-values.js';
import { answeredWith } from '../src/core/observation.js';
import { connectToTarget, touchTarget } from '../src/net/tcp-connect.js';
import { exchange, showBytes } from '../src/net/reply.js';
import type { TlsOptions } from '../src/net/tls-handshake.js';
import { SERVICE_NAMES, SERVICE_PRESETS, type ServicePreset } from '../src/net/service-presets.js';
import { SCAN_MODES, type ScanMode } from '../src/net/scan-mode.js';
import { TRACE_CLI_OPTION, traceModeOf, traceOption, type TraceMode } from '../src/net/trace-option.js';

/** Options of the tcp probe. */
export interface TcpOptions {
  tls?: TlsOptions;
  /** Request bytes written once the connection (and TLS) is up. */
  send?: Buffer;
  /** The reply (or, without `send`, the banner) must match. */
  expectReply?: RegExp;
  /** Local address to connect from. */
  source?: string;
  /** The `--service` preset that set `send` and `expectReply` (and the default port). */
  service?: string;
  /** SYN mode (`syn`), connect mode (default), or SYN where the raw socket is available (`auto`). */
  scan?: ScanMode;
  /** Trace where the path dies (see src/net/trace.ts). */
  trace?: TraceMode;
}

/** TCP connect, optionally TLS and a request/reply check, classifying every way it can fail. */
export const tcp: ProbeKind<TcpOptions> = {
  name: 'tcp',
  summary:
    'TCP connect; says refused, dropped, rejected (by which router) or unreachable; optional TLS and banner check',
  protocol: 'tcp',
  defaultAttempts: 1,
  defaultPortFor(options) {
    return options.service === undefined ? undefined : SERVICE_PRESETS[options.service]?.port;
  },
  cliOptions: {
    tls: { type: 'boolean', describe: 'Run a TLS handshake and report the certificate' },
    servername: { type: 'string', describe: 'TLS server name (SNI) to send and verify', requiresArg: true },
    ca: {
      type: 'string',
      describe: 'PEM file of the CA to verify the certificate against (a failure is a failed check)',
      requiresArg: true,
    },
    send: {
      type: 'string',
      describe: 'Text to send once connected (escapes \\r \\n \\t \\0 \\\\ \\xHH)',
      requiresArg: true,
    },
    'send-hex': { type: 'string', describe: 'Bytes to send once connected, as hex', requiresArg: true },
    'expect-reply': {
      type: 'string',
      describe: 'Regular expression the reply (or the banner, without --send) must match',
      requiresArg: true,
    },
    source: { type: 'string', describe: 'Local IP address to connect from', requiresArg: true },
    scan: {
      type: 'string',
      choices: SCAN_MODES,
      describe:
        'How to probe: connect (default); syn sends SYNs from a raw socket and reads the answer (the state only, ' +
        'no half-open connection remains; needs CAP_NET_RAW); auto is syn where possible, else connect',
      requiresArg: true,
    },
    trace: TRACE_CLI_OPTION,
    service: {
      type: 'string',
      describe: `Check for a known service, which sets the request, the expected reply and the default port: ${SERVICE_NAMES.join(', ')}`,
      requiresArg: true,
    },
  },
  examples: [
    ['reachgate probe tcp 198.51.100.10:5900 --tls', 'is the viewer port open, and what certificate does it show?'],
    ['reachgate probe tcp 198.51.100.10:22 --expect-reply "^SSH-2\\.0"', 'is it really an SSH server?'],
    ['reachgate probe tcp 198.51.100.10:23,80-90 --expect blocked', 'prove that a filter blocks these ports, and how'],
    [
      'reachgate probe tcp 198.51.100.20 --service ldap',
      'does an LDAP server answer an anonymous rootDSE search on port 389?',
    ],
  ],
  prepare(options) {
    // SYN mode asked for explicitly must fail before anything is probed (exit 2) when it cannot run here.
    if (options.scan === 'syn') return synProbe().then(({ requireSynMode }) => requireSynMode());
    return options.tls ? loadTls() : undefined;
  },
  parseOptions(raw) {
    const options: TcpOptions = {};
    const preset = servicePreset(raw);
    const servername = optionalString(raw, 'servername');
    const ca = optionalFileText(raw, 'ca');
    if (flag(raw, 'tls') || preset?.tls) {
      options.tls = { ...(servername ? { servername } : {}), ...(ca ? { ca } : {}) };
    } else if (servername !== undefined || ca !== undefined)
      throw new UsageError('`--servername` and `--ca` need `--tls`');
    const send = requestBytes(raw) ?? preset?.send;
    if (send) options.send = send;
    const expectReply = optionalRegex(raw, 'expect-reply') ?? preset?.expect;
    if (expectReply) options.expectReply = expectReply;
    if (preset) options.service = optionalString(raw, 'service');
    const source = optionalAddress(raw, 'source');
    if (source) options.source = source;
    const scan = scanMode(raw, options);
    if (scan) options.scan = scan;
    const trace = traceOption(raw);
    if (trace) options.trace = trace;
    return options;
  },
  stateOnlyScan(spec) {
    const { tls, send, expectReply, source } = spec.options;
    if (tls || send || expectReply || source !== undefined || traceModeOf(spec) !== 'off') return undefined;
    return spec.options.scan ?? 'connect';
  },
  lossTrial(spec) {
    // The handshake (or the SYN-ACK) is the answer: no TLS, request or trace, from the same source, in the same mode.
    const { scan, source } = spec.options;
    return { ...spec, options: { ...(scan ? { scan } : {}), ...(source !== undefined ? { source } : {}) } };
  },
  observe,
};

export default tcp;

/**
 * The `--service` preset, if one is named. A preset sets the request and the expected reply, so
 * `--send`, `--send-hex` and `--expect-reply` beside it are a usage error rather than a silent override.
 */
function servicePreset(raw: Record<string, unknown>): ServicePreset | undefined {
  const name = optionalString(raw, 'service');
  if (name === undefined) return undefined;
  const preset = Object.hasOwn(SERVICE_PRESETS, name) ? SERVICE_PRESETS[name] : undefined;
  if (!preset) throw new UsageError(`Unknown \`--service\` \`${name}\``, `Known services: ${SERVICE_NAMES.join(', ')}`);
  const conflicting = ['send', 'send-hex', 'expect-reply'].filter((option) => raw[option] !== undefined);
  if (conflicting.length > 0) {
    throw new UsageError(
      `\`--service ${name}\` sets the request and the expected reply; it cannot be combined with ` +
        `${conflicting.map((option) => `\`--${option}\``).join(' or ')}`,
      'Use either --service, or --send/--send-hex with --expect-reply for a service without a preset',
    );
  }
  return preset;
}

/** The `scan` option; SYN mode proves the state only, so it refuses what needs a connection. */
function scanMode(raw: Record<string, unknown>, options: TcpOptions): ScanMode | undefined {
  const scan = optionalString(raw, 'scan');
  if (scan === undefined || scan === 'connect') return undefined;
  if (!(SCAN_MODES as readonly string[]).includes(scan)) {
    throw new UsageError(`Expected the \`scan\` option to be one of ${SCAN_MODES.join(', ')}, got \`${scan}\``);
  }
  const needsConnection = [
    options.tls && 'TLS',
    (options.send || options.expectReply) && 'a request or reply check',
    options.source && '--source',
  ].filter(Boolean);
  if (scan === 'syn' && needsConnection.length > 0) {
    throw new UsageError(
      `\`--scan syn\` proves the port's state only; ${needsConnection.join(' and ')} need${needsConnection.length > 1 ? '' : 's'} a connection`,
      'Leave out --scan syn (connect mode), or use --scan auto',
    );
  }
  return needsConnection.length > 0 ? undefined : (scan as ScanMode);
}

// SYN mode and the tracer load raw-socket glue, crypto and dgram: only for the probes that use them, so that a
// connect probe's cold start does not pay for them.
const synProbe = (): Promise<typeof import('../src/net/syn-probe.js')> => import('../src/net/syn-probe.js');

function observe(spec: ResolvedProbeSpec<TcpOptions>, context: ProbeContext): Promise<Observation> {
  if (traceModeOf(spec) === 'off') return observeState(spec, context);
  return import('../src/net/trace.js').then(({ observeWithTrace }) =>
    observeWithTrace(spec, context, { protocol: 'tcp' }, () => observeState(spec, context)),
  );
}

async function observeState(spec: ResolvedProbeSpec<TcpOptions>, context: ProbeContext): Promise<Observation> {
  // --- SYN mode hook (issue 12): the state from a raw SYN; see src/net/syn-probe.ts. ---
  let fallback: string | undefined;
  if (spec.options.scan) {
    const syn = await (await synProbe()).observeBySyn(spec, context);
    if ('observation' in syn) return syn.observation;
    fallback = syn.unavailable;
  }
  const observation = await observeByConnect(spec, context);
  return fallback === undefined
    ? observation
    : {
        ...observation,
        evidence: { ...observation.evidence, scan: 'connect', scan_fallback: `SYN mode unavailable: ${fallback}` },
      };
}

async function observeByConnect(spec: ResolvedProbeSpec<TcpOptions>, context: ProbeContext): Promise<Observation> {
  const { tls, send, expectReply, source: from } = spec.options;
  // Nothing to say over the connection (a sweep's probe): the state only, without a socket object.
  if (!tls && !send && !expectReply && from === undefined) {
    const touched = await touchTarget(spec, context);
    if (touched.kind === 'unanswered') return touched.observation;
    return answeredWith(`connected in ${formatMs(touched.rttMs)}`, [], {
      rtt_ms: touched.rttMs,
      attempts: touched.attempts,
    });
  }
  const source = spec.options.source === undefined ? {} : { localAddress: spec.options.source };
  // A negative row's verdict is decided by any answer to its connect (open fails it): while the connect is out it
  // only waits on silence, whatever its TLS or request would show after. A positive row works until it settles.
  const waits = spec.expect === 'blocked' ? { waiter: context } : {};
  const connection = await connectToTarget(spec, context, { ...source, ...waits });
  if (connection.kind === 'unanswered') return connection.observation;
  try {
    return await converse(spec, context, connection.socket, connection.rttMs, connection.attempts);
  } finally {
    connection.socket.destroy();
  }
}

/** After the handshake: TLS, then request and reply, each a check on an open port. */
async function converse(
  spec: ResolvedProbeSpec<TcpOptions>,
  context: ProbeContext,
  socket: Socket,
  rttMs: number,
  attempts: number,
): Promise<Observation> {
  const evidence: Record<string, unknown> = {};
  const checks: Check[] = [];
  let stream: Duplex = socket;
  const { tls, send, expectReply } = spec.options;
  if (tls) {
    const { handshakeTls } = await loadTls();
    const handshake = await handshakeTls(socket, tls, context.signal);
    checks.push(handshake.check);
    if (handshake.ok) {
      evidence.tls = handshake.evidence;
      stream = handshake.socket;
    }
  }
  if ((send || expectReply) && checks.every((check) => check.ok)) {
    const reply = await exchange(stream, send, expectReply ?? /[\s\S]/, context.signal);
    if (reply.bytes.length > 0) evidence.reply = showBytes(reply.bytes, 512);
    if (expectReply)
      checks.push(
        replyCheck(reply.bytes, reply.matched, reply.end, expectationOf(spec.options, expectReply), spec.timeoutMs),
      );
  }
  if (stream !== socket) stream.destroy();
  return answeredWith(`connected in ${formatMs(rttMs)}`, checks, { rtt_ms: rttMs, attempts, evidence });
}

/** The expected reply in words: a preset's description, or the pattern. */
function expectationOf(options: TcpOptions, pattern: RegExp): string {
  return options.service === undefined ? `/${pattern.source}/` : SERVICE_PRESETS[options.service]!.describe;
}

/** Judge the reply; `what` names the expectation: the pattern, or a preset's description. */
function replyCheck(bytes: Buffer, matched: boolean, end: string, what: string, timeoutMs: number): Check {
  if (matched) return { ok: true, detail: `reply matched ${what}: ${showBytes(bytes)}` };
  if (bytes.length === 0) {
    return {
      ok: false,
      detail:
        end === 'closed'
          ? `the peer closed without a reply (expected ${what})`
          : `no reply within ${formatMs(timeoutMs)} (expected ${what})`,
    };
  }
  return { ok: false, detail: `reply did not match ${what}: ${showBytes(bytes)}` };
}
