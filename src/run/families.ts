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

/**
 * Name the difference between address families where one blocked path answered differently over IPv4 and IPv6:
 * each result of the pair gets "IPv4 dropped, IPv6 rejected by …" added to its reason. Results are judged per
 * family already; this says why the two verdicts of one row may differ.
 */
export function noteFamilyDifferences(results: ProbeResult[]): ProbeResult[] {
  const groups = new Map<string, Array<{ index: number; family: 4 | 6 }>>();
  results.forEach((result, index) => {
    const family = result.target.address === null ? 0 : isIP(result.target.address);
    if (result.expect !== 'blocked' || (family !== 4 && family !== 6)) return;
    const { host, port, protocol } = result.target;
    const key = `${result.row ?? ''}|${result.kind}|${host}|${port}|${protocol}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push({ index, family });
  });
  const noted = [...results];
  for (const group of groups.values()) {
    const v4 = group.filter((member) => member.family === 4).map((member) => results[member.index]!);
    const v6 = group.filter((member) => member.family === 6).map((member) => results[member.index]!);
    if (v4.length !== 1 || v6.length !== 1) continue;
    const answers = { v4: familyAnswer(v4[0]!), v6: familyAnswer(v6[0]!) };
    if (answers.v4 === answers.v6) continue;
    const difference = `IPv4 ${answers.v4}, IPv6 ${answers.v6}`;
    for (const member of group) {
      const result = results[member.index]!;
      noted[member.index] = { ...result, reason: `${result.reason}; ${difference}` };
    }
  }
  return noted;
}
