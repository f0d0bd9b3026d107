import type { Duplex } from 'node:stream';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Check, Observation } from '../src/core/result.js';
import { answeredWith } from '../src/core/observation.js';
import { formatMs } from '../src/core/duration.js';
import { flag } from '../src/core/option-values.js';
import { connectToTarget } from '../src/net/tcp-connect.js';
import { readFramed, type FrameCheck, type FramedRead } from '../src/net/framed-read.js';
import { handshakeTls, type HandshakeOutcome } from '../src/net/tls-handshake.js';
import { showBytes } from '../src/net/reply.js';
import {
  MAX_RESPONSE_BYTES,
  NRPE_HELLO,
  RESPONSE_PACKET,
  encodeQuery,
  readResponse,
  type NrpeResponse,
  type NrpeVersion,
} from '../src/net/nrpe.js';

/** Options of the nrpe probe. */
export interface NrpeOptions {
  /** Speak TLS, as nrpe does unless started with -n. */
  tls: boolean;
}

// nrpe without a certificate offers only anonymous DH, which OpenSSL allows at security level 0 only;
// with a certificate it negotiates as any TLS server (TLS 1.3 included).
const NRPE_CIPHERS = 'HIGH:ADH:@SECLEVEL=0';
const STATUS = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];

/** NRPE's `_NRPE_CHECK` over TLS (anonymous DH or certificate) or plain TCP; the daemon's version string is the answer. */
export const nrpe: ProbeKind<NrpeOptions> = {
  name: 'nrpe',
  summary:
    "NRPE _NRPE_CHECK (packet v4, falling back to v2) over TLS or --no-tls; checks the CRC, reports the daemon's version",
  protocol: 'tcp',
  defaultPort: 5666,
  defaultAttempts: 1,
  cliOptions: {
    tls: {
      type: 'boolean',
      default: true,
      describe: "Speak TLS (anonymous DH, or the daemon's certificate); --no-tls for a daemon started with -n",
    },
  },
  examples: [
    ['reachgate probe nrpe 198.51.100.10', 'does the NRPE daemon answer, and which version is it?'],
    ['reachgate probe nrpe 198.51.100.10 --no-tls', 'the same for a daemon that runs without TLS (nrpe -n)'],
  ],
  parseOptions(raw) {
    // TLS is the default, also for a profile that does not mention it.
    return { tls: raw.tls === undefined || raw.tls === null ? true : flag(raw, 'tls') };
  },
  observe,
};

export default nrpe;

/** How one connection, one query, ended. */
type Session =
  | { kind: 'unanswered'; observation: Observation }
  | { kind: 'tls-failed'; check: Check; rttMs: number }
  | { kind: 'exchanged'; read: ResponseRead; rttMs: number; tls?: Extract<HandshakeOutcome, { ok: true }> };

/** The read of a response, with the response when a whole packet came. */
interface ResponseRead extends FramedRead {
  response?: NrpeResponse;
}

async function observe(spec: ResolvedProbeSpec<NrpeOptions>, context: ProbeContext): Promise<Observation> {
  let version: NrpeVersion = 4;
  let session = await query(spec, context, version);
  let attempts = 1;
  // A daemon older than nrpe 4 closes the connection on a v4 packet without a word: ask again in v2.
  if (
    session.kind === 'exchanged' &&
    session.read.end === 'closed' &&
    session.read.bytes.length === 0 &&
    !context.signal.aborted
  ) {
    version = 2;
    session = await query(spec, context, version);
    attempts = 2;
  }
  if (session.kind === 'unanswered') return { ...session.observation, attempts };
  const connected = `connected in ${formatMs(session.rttMs)}`;
  const facts = { rtt_ms: session.rttMs, attempts };
  if (session.kind === 'tls-failed') return answeredWith(connected, [session.check], facts);
  const tlsMode = session.tls ? ('anonymous' in session.tls.evidence ? 'anonymous DH' : 'certificate') : 'off';
  const evidence: Record<string, unknown> = {
    packet_version: version,
    tls_mode: tlsMode,
    ...(session.tls ? { tls: session.tls.evidence } : {}),
  };
  const { response } = session.read;
  if (response) Object.assign(evidence, { version_string: response.output, result_code: response.resultCode });
  const check = checkResponse(session.read, version, spec, attempts, session.tls?.check);
  const via = session.tls ? `TLS ${tlsMode} ${session.tls.evidence.cipher}` : 'no TLS';
  return answeredWith(`${connected} (packet v${version}, ${via})`, [check], { ...facts, evidence });
}

/** One connection: connect, TLS when asked, send `_NRPE_CHECK` as a packet of `version`, read the response. */
async function query(
  spec: ResolvedProbeSpec<NrpeOptions>,
  context: ProbeContext,
  version: NrpeVersion,
): Promise<Session> {
  const connection = await connectToTarget(spec, context, { attempts: 1 });
  if (connection.kind === 'unanswered') return { kind: 'unanswered', observation: connection.observation };
  const { socket, rttMs } = connection;
  try {
    let stream: Duplex = socket;
    let tls: Extract<HandshakeOutcome, { ok: true }> | undefined;
    if (spec.options.tls) {
      const handshake = await handshakeTls(socket, { ciphers: NRPE_CIPHERS }, context.signal);
      if (!handshake.ok)
        return {
          kind: 'tls-failed',
          check: context.signal.aborted ? handshake.check : tlsFailure(handshake.check),
          rttMs,
        };
      tls = handshake;
      stream = handshake.socket;
    }
    const reading = readFramed(stream, { frame: responseFrame, maxBytes: MAX_RESPONSE_BYTES, signal: context.signal });
    stream.write(encodeQuery(version, NRPE_HELLO));
    const read: ResponseRead = await reading;
    const found = read.frame ? readResponse(read.frame) : undefined;
    if (found?.complete) read.response = found.response;
    stream.destroy();
    return { kind: 'exchanged', read, rttMs, ...(tls ? { tls } : {}) };
  } finally {
    socket.destroy();
  }
}

/** Where an NRPE response packet ends in the bytes read so far, or why they are none. */
function responseFrame(bytes: Buffer): FrameCheck {
  const read = readResponse(bytes);
  if (read.complete) return { size: read.size };
  return read.reason === undefined ? undefined : { invalid: read.reason };
}

function checkResponse(
  read: ResponseRead,
  version: NrpeVersion,
  spec: ResolvedProbeSpec<NrpeOptions>,
  attempts: number,
  tlsCheck: Check | undefined,
): Check {
  const { response, bytes } = read;
  if (!response) {
    // A TLS record (content type 21 = alert, 22 = handshake, version 3.x) where an NRPE packet should be.
    if (!spec.options.tls && bytes.length >= 2 && (bytes[0] === 0x15 || bytes[0] === 0x16) && bytes[1] === 0x03) {
      return { ok: false, detail: 'the daemon answered with TLS: it expects TLS, probe without --no-tls' };
    }
    if (read.end === 'invalid')
      return { ok: false, detail: `the reply is not an NRPE response (${read.invalid}): ${showBytes(bytes, 40)}` };
    if (bytes.length > 0)
      return {
        ok: false,
        detail: `the reply ended after ${bytes.length} bytes, short of an NRPE packet: ${showBytes(bytes, 40)}`,
      };
    if (read.end === 'deadline') return { ok: false, detail: `no NRPE response within ${formatMs(spec.timeoutMs)}` };
    const tried = attempts === 2 ? 'v4 and v2 queries' : `a v${version} query`;
    const hint = spec.options.tls
      ? 'this host may be missing from its allowed_hosts'
      : 'this host may be missing from its allowed_hosts, or it expects TLS';
    return { ok: false, detail: `the daemon closed the connection without answering (${tried}): ${hint}` };
  }
  if (!response.crcOk)
    return {
      ok: false,
      detail: `the response's CRC-32 does not match its content: corrupted, or not NRPE (output ${JSON.stringify(response.output.slice(0, 80))})`,
    };
  if (response.type !== RESPONSE_PACKET || response.version !== version) {
    return {
      ok: false,
      detail: `expected a v${version} response packet, got packet type ${response.type} version ${response.version}`,
    };
  }
  if (response.resultCode !== 0) {
    return {
      ok: false,
      detail: `the daemon answered ${NRPE_HELLO} with status ${STATUS[response.resultCode] ?? response.resultCode}: ${JSON.stringify(response.output)}`,
    };
  }
  if (tlsCheck && !tlsCheck.ok) return tlsCheck;
  return { ok: true, detail: JSON.stringify(response.output) };
}

// nrpe closes the connection at once for a host not in allowed_hosts, and a daemon without TLS closes
// it on reading a ClientHello: from here both look like the same reset.
function tlsFailure(check: Check): Check {
  return {
    ok: false,
    detail: `${check.detail} (this host may be missing from the daemon's allowed_hosts, or the daemon speaks no TLS (nrpe -n): try --no-tls)`,
  };
}
