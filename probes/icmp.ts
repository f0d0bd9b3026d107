import { isIP } from 'node:net';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Observation } from '../src/core/result.js';
import { silentAfter } from '../src/core/observation.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs } from '../src/core/duration.js';
import { parseTarget } from '../src/net/target.js';
import { classifyErrno, classifyIcmp } from '../src/net/classify.js';
import { exchangeEcho, type EchoReply } from '../src/net/icmp-echo.js';
import { observeWithTrace, TRACE_CLI_OPTION, traceOption, type TraceMode } from '../src/net/trace.js';

/** Options of the icmp probe. */
export interface IcmpOptions {
  /** Trace where the path dies (see src/net/trace.ts). */
  trace?: TraceMode;
}

const GRANT = 'run as root, or grant it: setcap cap_net_raw+ep "$(command -v node)"';
const HOP_LIMIT_NOTE =
  'the hop limit of an ICMPv6 reply is not available: a raw ICMPv6 socket does not return the IPv6 header';

/** ICMP echo (ping) over the shared raw sockets: rtt and ttl, or who rejected the request and how. */
export const icmp: ProbeKind<IcmpOptions> = {
  name: 'icmp',
  summary:
    'ICMP echo (ping): round-trip time and TTL; says which router rejected it, or that it was dropped (needs CAP_NET_RAW)',
  protocol: 'icmp',
  defaultAttempts: 3,
  cliOptions: { trace: TRACE_CLI_OPTION },
  examples: [
    ['reachgate probe icmp 198.51.100.10', 'does the host answer ping, and how many hops away is it?'],
    ['reachgate probe icmp 203.0.113.7 --expect blocked', 'prove that ping to the Internet is blocked, and by whom'],
  ],
  parseOptions(raw) {
    const trace = traceOption(raw);
    return trace ? { trace } : {};
  },
  parseTarget(text) {
    const target = parseTarget(text);
    if (target.ports.length > 0) {
      throw new UsageError(
        `The icmp probe takes a host, not a port: \`${text}\``,
        `Leave out the port, e.g. reachgate probe icmp ${target.host}`,
      );
    }
    return target;
  },
  observe,
};

export default icmp;

function observe(spec: ResolvedProbeSpec<IcmpOptions>, context: ProbeContext): Promise<Observation> {
  return observeWithTrace(spec, context, { protocol: 'icmp' }, () => observeEcho(spec, context));
}

async function observeEcho(spec: ResolvedProbeSpec<IcmpOptions>, context: ProbeContext): Promise<Observation> {
  if (!context.icmp) {
    return { state: 'error', reason: withoutRawSocket(context.icmpNote), attempts: 0 };
  }
  const { address } = spec.target;
  const outcome = await exchangeEcho({
    address,
    attempts: spec.attempts,
    timeoutMs: spec.timeoutMs,
    signal: context.signal,
    listener: context.icmp,
    waiter: context,
  });
  switch (outcome.kind) {
    case 'reply':
      return {
        state: 'open',
        reason: replyReason(outcome.reply, outcome.rttMs, spec.attempts),
        rtt_ms: outcome.rttMs,
        attempts: outcome.attempts,
        evidence: evidenceOf(outcome.reply, address),
      };
    case 'icmp':
      return { ...classifyIcmp(outcome.icmp, outcome.rttMs), rtt_ms: outcome.rttMs, attempts: outcome.attempts };
    case 'failed': {
      // EPERM on a raw socket's send is this host's own output filter; the rest mean what they mean for TCP.
      const classified = classifyErrno(outcome.errno, outcome.rttMs, undefined, context.icmpNote);
      const reason =
        classified.state === 'error' ? `sending the echo request failed: ${outcome.message}` : classified.reason;
      return { ...classified, reason, attempts: outcome.attempts };
    }
    case 'silent':
      return silentAfter(spec.timeoutMs, outcome.attempts, { awaited: 'echo reply' });
  }
}

/** Why echo cannot run, from the note the ICMP listener left when it could not start. */
function withoutRawSocket(note: string | undefined): string {
  const why =
    note === undefined
      ? 'the ICMP listener is not running'
      : note.includes('REACHGATE_RAW_SOCKET=off')
        ? 'raw sockets are switched off (REACHGATE_RAW_SOCKET=off)'
        : note.includes('raw-socket module')
          ? 'the optional raw-socket module is not installed (npm install raw-socket)'
          : note.includes('CAP_NET_RAW')
            ? 'this process lacks CAP_NET_RAW'
            : note;
  return `ICMP echo cannot run: ${why}. It needs a raw ICMP socket, which needs CAP_NET_RAW: ${GRANT}`;
}

function replyReason(reply: EchoReply, rttMs: number, attempts: number): string {
  const which = reply.sequence > 1 ? ` to attempt ${reply.sequence} of ${attempts}` : '';
  const ttl = reply.ttl === null ? 'hop limit not available' : `ttl ${reply.ttl}`;
  return `echo reply${which} in ${formatMs(rttMs)}, ${ttl}`;
}

function evidenceOf(reply: EchoReply, address: string): Record<string, unknown> {
  const base = { sequence: reply.sequence, bytes: reply.bytes };
  if (isIP(address) === 6) return { ...base, hop_limit: null, hop_limit_note: HOP_LIMIT_NOTE };
  return { ...base, ttl: reply.ttl };
}
