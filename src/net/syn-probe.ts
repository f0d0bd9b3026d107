import type { ProbeContext, ResolvedProbeSpec } from '../core/probe-kind.js';
import type { Observation } from '../core/result.js';
import { formatMs } from '../core/duration.js';
import { silentAfter } from '../core/observation.js';
import { UsageError } from '../core/usage-error.js';
import { classifyErrno, classifyIcmp } from './classify.js';
import type { IcmpError } from './icmp-packet.js';
import {
  attemptPort,
  sharedSynScanner,
  synUnavailable,
  takePorts,
  type SynAnswer,
  type SynScanner,
} from './syn-scanner.js';
import { sendTimes } from './udp-exchange.js';

export { SCAN_MODES, type ScanMode } from './scan-mode.js';

/** Fail before anything is probed when SYN mode was asked for and cannot run here (exit 2, with why). */
export function requireSynMode(): void {
  const why = synUnavailable();
  if (why !== undefined) {
    throw new UsageError(`\`--scan syn\` cannot run here: ${why}`, 'Use --scan connect, or --scan auto to fall back');
  }
}

/**
 * Probe a TCP port with SYNs (SYN mode): SYN-ACK is open, a reset closed, an ICMP error prohibited or
 * unreachable, silence after the attempts filtered: the states, reasons and evidence of connect mode.
 * Undefined when the scanner cannot run here (or not for this address family): the caller falls back.
 */
export async function observeBySyn(
  spec: ResolvedProbeSpec<unknown>,
  context: ProbeContext,
): Promise<{ observation: Observation } | { unavailable: string }> {
  const { start, release } = sharedSynScanner();
  try {
    const { scanner } = start;
    if (!scanner) return { unavailable: start.why };
    if (!scanner.supports(spec.target.address)) return { unavailable: 'no raw IPv6 TCP socket on this host' };
    scanner.useIcmp(context.icmp);
    return { observation: await exchangeSyn(scanner, spec, context.signal, context.icmpNote) };
  } finally {
    release();
  }
}

function exchangeSyn(
  scanner: SynScanner,
  spec: ResolvedProbeSpec<unknown>,
  signal: AbortSignal,
  icmpNote: string | undefined,
): Promise<Observation> {
  const { address, port } = spec.target;
  const evidence = { scan: 'syn' };
  return new Promise((resolve) => {
    const sentAt: number[] = [];
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    let stopHearing: (() => void) | undefined;
    const settle = (observation: Observation): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      stopHearing?.();
      resolve(observation);
    };
    const sinceLast = (): number => performance.now() - (sentAt[sentAt.length - 1] ?? performance.now());
    const onAbort = (): void => settle({ ...silentAfter(spec.timeoutMs, sentAt.length), evidence });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    // A deadline of its own: thousands of SYNs in flight can stall the event loop past the runner's grace, and
    // its abort then never comes. Answers already queued are read first, so a stall cannot turn one into silence.
    timers.push(
      setTimeout(() => {
        scanner.readQueued();
        onAbort();
      }, spec.timeoutMs),
    );
    // Each attempt from a source port of its own: a fresh 4-tuple, so a target that lost its SYN-ACK to one attempt
    // (and holds it half-open) answers the next as it would any SYN; an answer to any of them, late ones too, counts.
    const block = takePorts(spec.attempts);
    stopHearing = scanner.hear(address, port, block, (answer: SynAnswer) => {
      if (answer.tag !== 0) return;
      const what = answer.kind === 'icmp' ? answer.icmp : answer.kind;
      settle(synAnswered(what, sinceLast(), sentAt.length, icmpNote, evidence));
    });
    const send = (attempt: number): void => {
      if (settled) return;
      sentAt[attempt] = performance.now();
      // The first SYN to an address waits for its route look-up: time the answer from the send itself.
      scanner.send(address, port, attemptPort(block, attempt)).then(
        () => {
          sentAt[attempt] = performance.now();
        },
        (error: NodeJS.ErrnoException) => {
          const errno = error.code ?? 'EUNKNOWN';
          settle(synSendFailed(errno, error.message, sinceLast(), sentAt.length, icmpNote, evidence));
        },
      );
    };
    send(0);
    sendTimes(spec.attempts, spec.timeoutMs).forEach((at, attempt) => {
      if (attempt > 0) timers.push(setTimeout(() => send(attempt), at));
    });
  });
}

/** An answer to a SYN: a SYN-ACK, a reset, or an ICMP error quoting it. */
export type SynReply = 'syn-ack' | 'reset' | IcmpError;

/**
 * The observation of a SYN's answer `rttMs` after the last SYN sent, after `attempts` SYNs: the states, reasons and
 * evidence of connect mode (shared by the probe above and the native sweep engine).
 */
export function synAnswered(
  reply: SynReply,
  rttMs: number,
  attempts: number,
  icmpNote: string | undefined,
  evidence: Record<string, unknown>,
): Observation {
  if (reply === 'syn-ack') {
    return {
      state: 'open',
      reason: `SYN-ACK in ${formatMs(rttMs)} (SYN mode: this host's reset closed the half-open connection)`,
      rtt_ms: rttMs,
      attempts,
      evidence,
    };
  }
  const classified =
    reply === 'reset' ? classifyErrno('ECONNREFUSED', rttMs, undefined, icmpNote) : classifyIcmp(reply, rttMs);
  return { ...classified, rtt_ms: rttMs, attempts, evidence };
}

/** The observation of a SYN the kernel would not send (no route, a local filter): classified by its errno. */
export function synSendFailed(
  errno: string,
  message: string,
  sinceLastMs: number,
  attempts: number,
  icmpNote: string | undefined,
  evidence: Record<string, unknown>,
): Observation {
  const classified = classifyErrno(errno, sinceLastMs, undefined, icmpNote);
  const reason = classified.state === 'error' ? `sending the SYN failed: ${message}` : classified.reason;
  return { ...classified, reason, attempts, evidence };
}
