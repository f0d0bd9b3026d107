import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Check, Observation } from '../src/core/result.js';
import { answeredWith, silentAfter } from '../src/core/observation.js';
import { formatMs } from '../src/core/duration.js';
import { optionalRegex, requestBytes } from '../src/core/option-values.js';
import { exchangeWithTarget, type UdpCodec } from '../src/net/udp-exchange.js';
import { failureObservation } from '../src/net/classify.js';
import { showBytes } from '../src/net/reply.js';
import { observeWithTrace, TRACE_CLI_OPTION, traceOption, type TraceMode } from '../src/net/trace.js';
import { UsageError } from '../src/core/usage-error.js';
import { carryNonce, newNonce, NONCE_MARKER } from '../src/core/receipt.js';
import { CONFIRM_OPTIONS, parseConfirmWith, type ConfirmWith } from '../src/net/confirm.js';
import { sendWithNonce } from '../src/net/one-way.js';

/** Options of the generic udp probe. */
export interface UdpOptions {
  /** The datagram to send; empty when the user gave none. */
  send: Buffer;
  /** The reply, read as latin1, must match. */
  expectReply?: RegExp;
  /** Trace where the path dies, with this payload (see src/net/trace.ts). */
  trace?: TraceMode;
  /** Ask a responder whether the datagram arrived: it then carries a nonce and is one-way (no reply is read). */
  confirm?: ConfirmWith;
}

/** A generic UDP request: any datagram back from the target's address and port is its reply. */
export const udp: ProbeKind<UdpOptions> = {
  name: 'udp',
  summary:
    'UDP datagram of your choosing; a datagram back is open, ICMP says closed, rejected (by which router) or ' +
    'unreachable; one-way with a nonce when a responder confirms it (--confirm-with, profile confirm:)',
  protocol: 'udp',
  defaultAttempts: 3,
  cliOptions: {
    send: {
      type: 'string',
      describe:
        'Text to send (escapes \\r \\n \\t \\0 \\\\ \\xHH); without --send or --send-hex, an empty datagram. ' +
        `Confirmed by a responder, the datagram carries a nonce: in place of each ${NONCE_MARKER}, or appended`,
      requiresArg: true,
    },
    'send-hex': { type: 'string', describe: 'Bytes to send, as hex', requiresArg: true },
    'expect-reply': {
      type: 'string',
      describe: 'Regular expression the reply datagram (read as latin1) must match',
      requiresArg: true,
    },
    trace: TRACE_CLI_OPTION,
    ...CONFIRM_OPTIONS,
  },
  examples: [
    ['reachgate probe udp 198.51.100.10:7 --send ping --expect-reply ping', 'does the echo service answer?'],
    [
      'reachgate probe udp 198.51.100.10:5060 --send "OPTIONS sip:x SIP/2.0\\r\\n\\r\\n" --expect-reply "^SIP/2\\.0 "',
      'is a SIP server answering?',
    ],
    [
      'reachgate probe udp 198.51.100.10:2055 --send-hex 0005 --confirm-with http://198.51.100.10:8514 --token-file responder.token',
      'did a one-way datagram (NetFlow, RTP) reach the collector? A responder beside it saw its nonce, or did not',
    ],
  ],
  parseOptions(raw) {
    const options: UdpOptions = { send: requestBytes(raw) ?? Buffer.alloc(0) };
    const expectReply = optionalRegex(raw, 'expect-reply');
    if (expectReply) options.expectReply = expectReply;
    const trace = traceOption(raw);
    if (trace) options.trace = trace;
    if (expectReply && raw['confirm-with'] !== undefined)
      throw new UsageError(
        '`--confirm-with` makes the datagram one-way (a responder proves it arrived); `--expect-reply` checks an answer: use one',
      );
    const confirm = parseConfirmWith(raw);
    if (confirm) options.confirm = confirm;
    return options;
  },
  observe,
};

export default udp;

function observe(spec: ResolvedProbeSpec<UdpOptions>, context: ProbeContext): Promise<Observation> {
  const { send, confirm } = spec.options;
  // A row a responder confirms (here or at the coordinator) is a one-way flow: its datagram carries a nonce.
  if (confirm || spec.confirm) {
    const what = {
      protocol: 'udp' as const,
      payload: () => carryNonce(send, newNonce()),
      oneWay: confirm ? ('confirmed' as const) : ('unconfirmed' as const),
    };
    return observeWithTrace(spec, context, what, () => observeOneWay(spec, context));
  }
  return observeWithTrace(spec, context, { protocol: 'udp', payload: () => send }, () =>
    observeExchange(spec, context),
  );
}

/** Send the datagram with a nonce (see {@link carryNonce}) and let the responder say whether it arrived. */
async function observeOneWay(spec: ResolvedProbeSpec<UdpOptions>, context: ProbeContext): Promise<Observation> {
  const nonce = newNonce();
  const payload = carryNonce(spec.options.send, nonce);
  return sendWithNonce(spec, context, nonce, spec.options.confirm, {
    payload,
    what: 'datagram',
    evidence: { nonce, length: payload.length },
    unanswered: 'a one-way datagram is not answered',
    lookFor: `look for ${nonce} at the far end`,
  });
}

async function observeExchange(spec: ResolvedProbeSpec<UdpOptions>, context: ProbeContext): Promise<Observation> {
  const { send, expectReply } = spec.options;
  const outcome = await exchangeWithTarget(spec, context, anyDatagram(send));
  if (outcome.kind === 'silent') {
    return silentAfter(spec.timeoutMs, outcome.attempts, {
      meaning: 'dropped on the way, or the service ignores this request (UDP silence cannot tell them apart)',
    });
  }
  if (outcome.kind === 'failed') {
    return failureObservation(outcome, outcome.attempts, context.icmpNote, 'udp');
  }
  const checks = expectReply ? [replyCheck(outcome.reply, expectReply)] : [];
  return answeredWith(`answered in ${formatMs(outcome.rttMs)} (${outcome.reply.length} bytes)`, checks, {
    rtt_ms: outcome.rttMs,
    attempts: outcome.attempts,
    evidence: { reply: showBytes(outcome.reply, 512), length: outcome.reply.length },
  });
}

/** Every attempt sends the same bytes; the connected socket already keeps out datagrams from anyone else. */
function anyDatagram(send: Buffer): UdpCodec<Buffer> {
  let lastSent = 0;
  return {
    request(attempt) {
      lastSent = attempt;
      return send;
    },
    // Nothing in a generic datagram says which attempt it answers: the latest gives a lower bound on the rtt.
    accept: (datagram) => ({ reply: datagram, attempt: lastSent }),
  };
}

function replyCheck(reply: Buffer, pattern: RegExp): Check {
  // latin1 maps every byte to one character, so binary patterns like \x03 work.
  return pattern.test(reply.toString('latin1'))
    ? { ok: true, detail: `reply matched /${pattern.source}/: ${showBytes(reply)}` }
    : { ok: false, detail: `reply did not match /${pattern.source}/: ${showBytes(reply)}` };
}
