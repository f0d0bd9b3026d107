import type { IcmpEvidence, Observation, State } from '../core/result.js';
import { formatMs } from '../core/duration.js';
import { describeIcmp, meaningOf, type IcmpError } from './icmp-packet.js';

/** A network state with its one-line reason. */
export interface Classified {
  state: State;
  reason: string;
  icmp?: IcmpEvidence;
}

/** Classify an ICMP error matched to a probe. */
export function classifyIcmp(icmp: IcmpError, rttMs: number): Classified {
  const { state } = meaningOf(icmp);
  const evidence = { type: icmp.type, code: icmp.code, from: icmp.from };
  const what = describeIcmp(icmp);
  const after = `after ${formatMs(rttMs)}`;
  if (state === 'prohibited') return { state, icmp: evidence, reason: `rejected by ${icmp.from}: ${what} ${after}` };
  if (state === 'closed') return { state, icmp: evidence, reason: `closed: ${what} from ${icmp.from} ${after}` };
  return { state, icmp: evidence, reason: `${icmp.from} answered ${what} ${after}` };
}

/** What failed, as connect and the UDP exchange report it. */
export interface Failure {
  errno: string;
  rttMs: number;
  icmp?: IcmpError;
}

/** The observation of a failed connect or exchange: state and reason, and the rtt when the network answered. */
export function failureObservation(
  failure: Failure,
  attempts: number,
  icmpNote: string | undefined,
  protocol: 'tcp' | 'udp' = 'tcp',
): Observation {
  // classifyErrno returns a fresh object: completed in place rather than copied, once per failed probe.
  const observation = classifyErrno(failure.errno, failure.rttMs, failure.icmp, icmpNote, protocol) as Observation;
  if (observation.state !== 'error') observation.rtt_ms = failure.rttMs;
  observation.attempts = attempts;
  return observation;
}

/** Classify a failed socket operation by its errno, with the ICMP error that explains it when one was seen. */
export function classifyErrno(
  errno: string,
  rttMs: number,
  icmp: IcmpError | undefined,
  icmpNote: string | undefined,
  protocol: 'tcp' | 'udp' = 'tcp',
): Classified {
  if (icmp) return classifyIcmp(icmp, rttMs);
  const after = `after ${formatMs(rttMs)}`;
  if (protocol === 'udp') {
    const udp = classifyUdpErrno(errno, after, icmpNote);
    if (udp) return udp;
  }
  switch (errno) {
    case 'ECONNREFUSED':
      return {
        state: 'closed',
        reason: `refused (TCP reset) ${after}: nothing listens, or a filter answers with a reset`,
      };
    case 'ESELFCONNECT':
      return {
        state: 'closed',
        reason: `nothing listens: the kernel gave the probe the target port as its own source port and the socket connected to itself ${after}`,
      };
    case 'EHOSTUNREACH':
      return {
        state: 'unreachable',
        reason: icmpNote
          ? `host unreachable (EHOSTUNREACH) ${after}; ${icmpNote}`
          : `host unreachable (EHOSTUNREACH) ${after}, no ICMP error seen: no ARP/neighbour answer on the local link`,
      };
    case 'ENETUNREACH':
      return { state: 'unreachable', reason: `no route to the network from this host (ENETUNREACH) ${after}` };
    case 'EPERM':
    case 'EACCES':
      return { state: 'prohibited', reason: `blocked by this host's own packet filter (${errno}) ${after}` };
    case 'ETIMEDOUT':
      return { state: 'filtered', reason: `the kernel gave up waiting for an answer (ETIMEDOUT) ${after}` };
    case 'EADDRNOTAVAIL':
      return { state: 'error', reason: `the source address is not available on this host (EADDRNOTAVAIL)` };
    case 'EINVAL':
    case 'EAFNOSUPPORT':
      return { state: 'error', reason: `this host cannot send to that address family (${errno}); check --source` };
    default:
      return { state: 'error', reason: `connect failed: ${errno} ${after}` };
  }
}

// A connected UDP socket hears only the ICMP errors the kernel deems fatal: port unreachable, and the
// prohibited codes (EHOSTUNREACH for 3/10 and 3/13, EACCES for ICMPv6 1/1, 1/5, 1/6), never 3/0 or 3/1.
function classifyUdpErrno(errno: string, after: string, icmpNote: string | undefined): Classified | undefined {
  const note = icmpNote ? `; ${icmpNote}` : '';
  switch (errno) {
    case 'ECONNREFUSED':
      return { state: 'closed', reason: `closed: ICMP port unreachable (ECONNREFUSED) ${after}` };
    case 'EHOSTUNREACH':
      return {
        state: 'unreachable',
        reason: `host unreachable or rejected by a filter (EHOSTUNREACH) ${after}${note || ', the ICMP error itself was not seen'}`,
      };
    case 'EACCES':
      return {
        state: 'prohibited',
        reason: `rejected by a filter (EACCES: ICMPv6 admin-prohibited or policy) ${after}${note}`,
      };
    default:
      return undefined;
  }
}
