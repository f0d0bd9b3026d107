import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Socket } from 'node:net';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Check, Observation } from '../src/core/result.js';
import { answeredWith } from '../src/core/observation.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs } from '../src/core/duration.js';
import { optionalString } from '../src/core/option-values.js';
import { connectToTarget } from '../src/net/tcp-connect.js';
import { showBytes } from '../src/net/reply.js';
import { encodeFrame, parseResponse, readFrame, type RelpFrame } from '../src/net/relp.js';
import { VERSION } from '../src/core/version.js';
import { newNonce } from '../src/core/receipt.js';
import {
  awaitReceipt,
  CONFIRM_OPTIONS,
  confirmedChecks,
  parseConfirmWith,
  type Confirmation,
  type ConfirmWith,
} from '../src/net/confirm.js';
import { sendOneWay } from '../src/net/one-way.js';
import { observeWithTrace, TRACE_CLI_OPTION, traceOption, type TraceMode } from '../src/net/trace.js';

/** How the message travels. */
export type SyslogTransport = 'udp' | 'tcp' | 'relp';

/** Options of the syslog probe. */
export interface SyslogOptions {
  transport: SyslogTransport;
  /** Ask a responder whether the message arrived (its nonce seen on the far side). */
  confirm?: ConfirmWith;
  /** Trace where the path dies: over UDP with a message like the probe's own (see src/net/trace.ts). */
  trace?: TraceMode;
}

const TRANSPORTS: readonly SyslogTransport[] = ['udp', 'tcp', 'relp'];
// facility user (1) * 8 + severity informational (6), RFC 5424 section 6.2.1
const PRI = 14;
/** The SD-ID's enterprise number is 32473, the one RFC 5612 reserves for documentation. */
const SD_ID = 'reachgate@32473';

/** One RFC 5424 message over UDP (no answer possible), TCP (octet-counted) or RELP (acknowledged). */
export const syslog: ProbeKind<SyslogOptions> = {
  name: 'syslog',
  summary: 'RFC 5424 message over UDP (unanswered: filtered unless ICMP says closed), TCP, or RELP (open on rsp 200)',
  protocol: 'udp',
  protocolFor: (options) => (options.transport === 'udp' ? 'udp' : 'tcp'),
  defaultPort: 514,
  // RELP has no registered port; 2514 is the one rsyslog's documentation uses.
  defaultPortFor: (options) => (options.transport === 'relp' ? 2514 : 514),
  // Over UDP another attempt only logs another copy: nothing can answer it.
  defaultAttempts: 1,
  cliOptions: {
    transport: {
      type: 'string',
      default: 'udp',
      describe: 'udp (RFC 5426), tcp (RFC 6587 octet counting) or relp (default port 2514)',
      requiresArg: true,
    },
    ...CONFIRM_OPTIONS,
    trace: TRACE_CLI_OPTION,
  },
  examples: [
    [
      'reachgate probe syslog 198.51.100.10 --confirm-with http://198.51.100.10:8514 --token-file responder.token',
      'did the UDP message arrive? A responder beside the log server saw its nonce, or did not',
    ],
    [
      'reachgate probe syslog 198.51.100.10 --transport relp',
      'does the RELP listener accept a session and acknowledge a message?',
    ],
    ['reachgate probe syslog 198.51.100.10 --transport tcp', 'does syslog over TCP connect?'],
    [
      'reachgate probe syslog 198.51.100.10',
      "send one message over UDP (look for it in the server's log: UDP cannot prove delivery)",
    ],
  ],
  parseOptions(raw) {
    const transport = optionalString(raw, 'transport') ?? 'udp';
    if (!(TRANSPORTS as readonly string[]).includes(transport)) {
      throw new UsageError(`Expected the \`--transport\` option to be udp, tcp or relp, got \`${transport}\``);
    }
    const confirm = parseConfirmWith(raw);
    const trace = traceOption(raw);
    return { transport: transport as SyslogTransport, ...(confirm ? { confirm } : {}), ...(trace ? { trace } : {}) };
  },
  observe,
};

export default syslog;

function observe(spec: ResolvedProbeSpec<SyslogOptions>, context: ProbeContext): Promise<Observation> {
  const { transport, confirm } = spec.options;
  // Traced copies carry a nonce of their own: a receipt proves the probe's own message, not a copy's.
  const what =
    transport === 'udp'
      ? {
          protocol: 'udp' as const,
          payload: () => Buffer.from(syslogMessage(randomBytes(6).toString('hex'), newNonce(), 'udp'), 'utf8'),
          oneWay: confirm ? ('confirmed' as const) : ('unconfirmed' as const),
        }
      : { protocol: 'tcp' as const };
  return observeWithTrace(spec, context, what, () => observeMessage(spec, context));
}

async function observeMessage(spec: ResolvedProbeSpec<SyslogOptions>, context: ProbeContext): Promise<Observation> {
  const id = randomBytes(6).toString('hex');
  const nonce = newNonce();
  const message = syslogMessage(id, nonce, spec.options.transport);
  const { confirm } = spec.options;
  const path = {
    protocol: spec.options.transport === 'udp' ? ('udp' as const) : ('tcp' as const),
    port: spec.target.port,
  };
  const asking = confirm ? awaitReceipt(confirm, nonce, path, context.signal) : undefined;
  try {
    if (spec.options.transport === 'udp')
      return await overUdp(spec, context, { id, nonce, message }, asking?.confirmation);
    return await overTcp(spec, context, { id, nonce, message }, asking?.confirmation);
  } finally {
    asking?.stop();
  }
}

/** One message: its id (for the log server's operator), its nonce (for a responder), and its text. */
interface Sent {
  id: string;
  nonce: string;
  message: string;
}

async function overTcp(
  spec: ResolvedProbeSpec<SyslogOptions>,
  context: ProbeContext,
  sent: Sent,
  confirmation: Promise<Confirmation> | undefined,
): Promise<Observation> {
  const { id, nonce, message } = sent;
  const connection = await connectToTarget(spec, context, { attempts: 1 });
  if (connection.kind === 'unanswered') return connection.observation;
  const { socket, rttMs } = connection;
  const connected = `connected in ${formatMs(rttMs)}`;
  try {
    if (spec.options.transport === 'tcp') {
      await sendOctetCounted(socket, message, context.signal);
      const evidence = { transport: 'tcp', message_id: id, nonce };
      if (confirmation) {
        const checks = confirmedChecks(await confirmation, spec.timeoutMs, evidence);
        return answeredWith(`${connected} and sent one octet-counted message`, checks, {
          rtt_ms: rttMs,
          attempts: 1,
          evidence,
        });
      }
      // Nothing answers a message over TCP: there is nothing to check, only what was sent to say.
      const told =
        `${connected} and sent one octet-counted message ` +
        `(TCP carries no syslog answer: look for id ${id} in the server's log)`;
      return answeredWith(told, [], { rtt_ms: rttMs, attempts: 1, evidence });
    }
    const { check, evidence } = await relpSession(socket, message, context.signal, spec.timeoutMs);
    const relp: Record<string, unknown> = { transport: 'relp', message_id: id, nonce, ...evidence };
    const checks =
      confirmation && check.ok ? [check, ...confirmedChecks(await confirmation, spec.timeoutMs, relp)] : [check];
    return answeredWith(connected, checks, { rtt_ms: rttMs, attempts: 1, evidence: relp });
  } finally {
    socket.destroy();
  }
}

/** The probe's message (RFC 5424): it says what it is, so nobody at the log server need wonder. */
function syslogMessage(id: string, nonce: string, transport: SyslogTransport): string {
  const timestamp = new Date().toISOString();
  return (
    `<${PRI}>1 ${timestamp} ${hostname() || '-'} reachgate ${process.pid} probe [${SD_ID} id="${id}" ` +
    `transport="${transport}" nonce="${nonce}"] reachgate reachability probe ${nonce}, no action needed`
  );
}

function overUdp(
  spec: ResolvedProbeSpec<SyslogOptions>,
  context: ProbeContext,
  sent: Sent,
  confirmation: Promise<Confirmation> | undefined,
): Promise<Observation> {
  return sendOneWay(spec, context, {
    payload: Buffer.from(sent.message, 'utf8'),
    what: 'message',
    confirmation,
    evidence: { transport: 'udp', message_id: sent.id, nonce: sent.nonce },
    unanswered: 'syslog over UDP never answers',
    lookFor: `look for id ${sent.id} in the server's log`,
  });
}

/** Write one octet-counted frame (RFC 6587 section 3.4.1) and close our side; settles once flushed, on a reset, or at the deadline. */
function sendOctetCounted(socket: Socket, message: string, signal: AbortSignal): Promise<void> {
  const bytes = Buffer.from(message, 'utf8');
  return new Promise((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      socket.removeListener('close', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    socket.once('close', done);
    socket.end(Buffer.concat([Buffer.from(`${bytes.length} `), bytes]), done);
  });
}

/** RELP: `open` must be answered 200, then the message must be acknowledged 200; then `close`. */
async function relpSession(
  socket: Socket,
  message: string,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<{ check: Check; evidence: Record<string, unknown> }> {
  const frames = frameReader(socket, signal);
  const offers = `relp_version=0\nrelp_software=reachgate,${VERSION}\ncommands=syslog`;
  socket.write(encodeFrame(1, 'open', offers));
  const opened = await frames.next();
  const openCheck = responseCheck(opened, 1, 'open', timeoutMs);
  if ('check' in openCheck) return { check: openCheck.check, evidence: {} };
  const evidence: Record<string, unknown> = {
    open_status: openCheck.response.status,
    ...(openCheck.response.offers.relp_software ? { relp_software: openCheck.response.offers.relp_software } : {}),
  };
  if (openCheck.response.status !== 200) {
    return {
      check: { ok: false, detail: `RELP open answered ${openCheck.response.status} ${openCheck.response.text}`.trim() },
      evidence,
    };
  }
  socket.write(encodeFrame(2, 'syslog', message));
  const acknowledged = await frames.next();
  const syslogCheck = responseCheck(acknowledged, 2, 'syslog', timeoutMs);
  if ('check' in syslogCheck) return { check: syslogCheck.check, evidence };
  evidence.syslog_status = syslogCheck.response.status;
  socket.write(encodeFrame(3, 'close'));
  // Wait for the close to be answered, so the server sees an orderly end rather than a reset.
  await frames.next();
  const server = evidence.relp_software ? ` by ${String(evidence.relp_software).split(',').slice(0, 2).join(' ')}` : '';
  if (syslogCheck.response.status !== 200) {
    return {
      check: {
        ok: false,
        detail:
          `RELP session opened${server}, but the message was answered ${syslogCheck.response.status} ${syslogCheck.response.text}`.trim(),
      },
      evidence,
    };
  }
  return { check: { ok: true, detail: `RELP open answered 200${server}, message acknowledged 200` }, evidence };
}

type Next = { frame: RelpFrame } | { end: 'closed' | 'deadline'; bytes: Buffer } | { invalid: string; bytes: Buffer };

/** Frames as they arrive on the socket, one `next()` at a time. */
function frameReader(socket: Socket, signal: AbortSignal): { next(): Promise<Next> } {
  let buffered: Buffer = Buffer.alloc(0);
  // A deadline that passed during the connect leaves nothing to wait for.
  let ended: 'closed' | 'deadline' | undefined = signal.aborted ? 'deadline' : undefined;
  let waiting: (() => void) | undefined;
  const wake = (): void => {
    waiting?.();
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake();
  });
  socket.once('close', () => {
    ended ??= 'closed';
    wake();
  });
  socket.on('error', () => {});
  signal.addEventListener(
    'abort',
    () => {
      ended ??= 'deadline';
      wake();
    },
    { once: true },
  );
  return {
    async next() {
      for (;;) {
        const read = readFrame(buffered);
        if ('frame' in read) {
          buffered = read.rest;
          // txnr 0 is the server's own: `serverclose` before it hangs up. Skip to what answers us.
          if (read.frame.txnr !== 0) return { frame: read.frame };
          continue;
        }
        if ('invalid' in read) return { invalid: read.invalid, bytes: buffered };
        if (ended) return { end: ended, bytes: buffered };
        await new Promise<void>((resolve) => {
          waiting = resolve;
        });
        waiting = undefined;
      }
    },
  };
}

function responseCheck(
  next: Next,
  txnr: number,
  command: string,
  timeoutMs: number,
): { check: Check } | { response: NonNullable<ReturnType<typeof parseResponse>> } {
  if ('invalid' in next)
    return {
      check: {
        ok: false,
        detail: `the answer to RELP ${command} is not RELP (${next.invalid}): ${showBytes(next.bytes, 60)}`,
      },
    };
  if ('end' in next) {
    if (next.end === 'deadline')
      return { check: { ok: false, detail: `no answer to RELP ${command} within ${formatMs(timeoutMs)}` } };
    return {
      check: {
        ok: false,
        detail: `the server closed the connection without answering RELP ${command}${next.bytes.length > 0 ? `: ${showBytes(next.bytes, 60)}` : ''}`,
      },
    };
  }
  const { frame } = next;
  const response = frame.command === 'rsp' ? parseResponse(frame.data) : undefined;
  if (!response || frame.txnr !== txnr) {
    return {
      check: {
        ok: false,
        detail:
          `expected rsp to RELP ${command} (txnr ${txnr}), got ` +
          `${showBytes(encodeFrame(frame.txnr, frame.command, frame.data.toString('utf8')), 60)}`,
      },
    };
  }
  return { response };
}
