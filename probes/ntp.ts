import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Check, Observation } from '../src/core/result.js';
import { answeredWith, silentAfter } from '../src/core/observation.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs, parseDuration } from '../src/core/duration.js';
import { exchangeWithTarget } from '../src/net/udp-exchange.js';
import { failureObservation } from '../src/net/classify.js';
import { observeWithTrace, TRACE_CLI_OPTION, traceOption, type TraceMode } from '../src/net/trace.js';
import {
  describeTime,
  ntpCodec,
  ntpEvidence,
  offsetAndDelay,
  signedMs,
  timeProblem,
  type NtpReply,
} from '../src/net/ntp.js';

/** Options of the ntp probe. */
export interface NtpOptions {
  /** Largest offset between the server's clock and ours that passes, in milliseconds. */
  maxOffsetMs?: number;
  /** Trace where the path dies, with the probe's own request (see src/net/trace.ts). */
  trace?: TraceMode;
}

/** NTPv4 client request answered by the server's time; checks synchronization, Kiss-o'-Death and offset. */
export const ntp: ProbeKind<NtpOptions> = {
  name: 'ntp',
  summary:
    "NTPv4 client request; open only on a valid server reply; checks stratum, leap, Kiss-o'-Death and --max-offset",
  protocol: 'udp',
  defaultPort: 123,
  defaultAttempts: 3,
  cliOptions: {
    'max-offset': {
      type: 'string',
      describe: "Fail the check when the server's clock is further from ours than this (e.g. 500ms, 2s)",
      requiresArg: true,
    },
    trace: TRACE_CLI_OPTION,
  },
  examples: [
    ['reachgate probe ntp 192.0.2.123', 'does the time server answer, and is it synchronized?'],
    ['reachgate probe ntp 192.0.2.123 --max-offset 500ms', 'and is our clock within 500 ms of it?'],
  ],
  parseOptions(raw) {
    const trace = traceOption(raw);
    const traced = trace ? { trace } : {};
    const text = raw['max-offset'];
    if (text === undefined || text === null) return traced;
    // A profile's YAML may give a bare number, which parseDuration reads as seconds.
    if (typeof text !== 'string' && typeof text !== 'number') {
      throw new UsageError(
        `Expected the \`--max-offset\` option to be a duration like 500ms or 2s, got \`${String(text)}\` (${typeof text})`,
      );
    }
    return { maxOffsetMs: parseDuration(String(text), '--max-offset'), ...traced };
  },
  observe,
};

export default ntp;

function observe(spec: ResolvedProbeSpec<NtpOptions>, context: ProbeContext): Promise<Observation> {
  const what = { protocol: 'udp' as const, payload: () => ntpCodec().request(0) };
  return observeWithTrace(spec, context, what, () => observeTime(spec, context));
}

async function observeTime(spec: ResolvedProbeSpec<NtpOptions>, context: ProbeContext): Promise<Observation> {
  const outcome = await exchangeWithTarget(spec, context, ntpCodec());
  if (outcome.kind === 'failed') {
    return failureObservation(outcome, outcome.attempts, context.icmpNote, 'udp');
  }
  if (outcome.kind === 'reply') return answered(outcome.reply, spec.options, outcome.attempts, outcome.rttMs);
  // A RATE kiss does not end the exchange (a later attempt may be answered); if nothing else came, it is the answer.
  if (outcome.lastReply) return answered(outcome.lastReply, spec.options, outcome.attempts);
  return silentAfter(spec.timeoutMs, outcome.attempts);
}

function answered(reply: NtpReply, options: NtpOptions, attempts: number, rttMs?: number): Observation {
  const head = rttMs === undefined ? 'NTP server answered' : `NTP server answered in ${formatMs(rttMs)}`;
  const rtt = rttMs === undefined ? {} : { rtt_ms: rttMs };
  return answeredWith(head, [checkReply(reply, options)], { ...rtt, attempts, evidence: ntpEvidence(reply) });
}

/** Whether the server has good time to give, and, with --max-offset, whether our clock is close enough to it. */
export function checkReply(reply: NtpReply, options: NtpOptions): Check {
  const problem = timeProblem(reply);
  if (problem) return { ok: false, detail: problem };
  const { offsetMs } = offsetAndDelay(reply);
  if (options.maxOffsetMs !== undefined && Math.abs(offsetMs) > options.maxOffsetMs) {
    return {
      ok: false,
      detail: `offset ${signedMs(offsetMs)} is beyond --max-offset ${formatMs(options.maxOffsetMs)} (stratum ${reply.stratum})`,
    };
  }
  return { ok: true, detail: describeTime(reply) };
}
