import { isIP } from 'node:net';
import type { ProbeResult } from '../core/result.js';
import { blockedHow } from '../core/verdict.js';
import { describeIcmp } from '../net/icmp-packet.js';

/** How one address family's probe of a blocked path answered, in a few words: "dropped", "rejected by 2001:db8::1 with …". */
export function familyAnswer(result: ProbeResult): string {
  const how = blockedHow(result.state, result.icmp);
  if (how === 'dropped') return 'dropped';
  if (result.icmp) {
    const family = isIP(result.icmp.from) === 6 ? 6 : 4;
    const icmp = describeIcmp({ ...result.icmp, family }).replace(/ \(\d+\/\d+\)$/, '');
    return `rejected by ${result.icmp.from} with ${icmp}`;
  }
  if (result.state === 'closed') return result.target.protocol === 'tcp' ? 'rejected with a TCP reset' : 'rejected';
  if (result.state === 'prohibited') return 'rejected by a filter';
  return result.state;
}

/** What a probe of a blocked path is, whatever its family: its row, kind, host name, port and protocol. */
type Probed = Pick<ProbeResult, 'row' | 'kind' | 'expect' | 'target'>;

/**
 * The pairs of a plan whose difference between address families is worth naming: a blocked path probed once over
 * IPv4 and once over IPv6 (same row, kind, host, port and protocol). Each index maps to its partner's.
 */
export function familyPairs(probes: {
  readonly length: number;
  at(index: number): Probed | undefined;
}): Map<number, number> {
  const groups = new Map<string, Array<{ index: number; family: 4 | 6 }>>();
  for (let index = 0; index < probes.length; index += 1) {
    const probe = probes.at(index)!;
    const family = probe.target.address === null ? 0 : isIP(probe.target.address);
    if (probe.expect !== 'blocked' || (family !== 4 && family !== 6)) continue;
    const { host, port, protocol } = probe.target;
    const key = `${probe.row ?? ''}|${probe.kind}|${host}|${port}|${protocol}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push({ index, family });
  }
  const pairs = new Map<number, number>();
  for (const group of groups.values()) {
    if (group.length !== 2 || group[0]!.family === group[1]!.family) continue;
    pairs.set(group[0]!.index, group[1]!.index);
    pairs.set(group[1]!.index, group[0]!.index);
  }
  return pairs;
}

/**
 * The results of a pair with "IPv4 dropped, IPv6 rejected by …" added to their reasons where the two families
 * answered differently; as they were otherwise. Results are judged per family already: this says why the two
 * verdicts of one row may differ.
 */
export function noteFamilyPair(one: ProbeResult, other: ProbeResult): [ProbeResult, ProbeResult] {
  const [v4, v6] = isIP(one.target.address ?? '') === 4 ? [one, other] : [other, one];
  const answers = { v4: familyAnswer(v4), v6: familyAnswer(v6) };
  if (answers.v4 === answers.v6) return [one, other];
  const difference = `IPv4 ${answers.v4}, IPv6 ${answers.v6}`;
  return [
    { ...one, reason: `${one.reason}; ${difference}` },
    { ...other, reason: `${other.reason}; ${difference}` },
  ];
}

/** Every result with the difference between address families named where a pair answered differently. */
export function noteFamilyDifferences(results: ProbeResult[]): ProbeResult[] {
  const noted = [...results];
  for (const [index, partner] of familyPairs(results)) {
    if (index > partner) continue;
    [noted[index], noted[partner]] = noteFamilyPair(results[index]!, results[partner]!);
  }
  return noted;
}
