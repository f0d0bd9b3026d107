import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { Lab } from '../../src/lab/lab.js';

/** What the lab's router does to traffic it forwards to some ports; everything else passes. */
export interface RouterRules {
  /** The transport protocols the port lists below apply to. */
  protocols: Array<'tcp' | 'udp'>;
  /** Dropped without an answer: the client sees silence (filtered). */
  drop?: number[];
  /** Rejected with ICMP destination unreachable 3/13, admin-prohibited (IPv4 only unless `prohibitedV6`). */
  prohibited?: number[];
  /** Rejected over IPv6 too, with ICMPv6 admin-prohibited. */
  prohibitedV6?: boolean;
  /** Requests 0-2 of every 10 dropped (`numgen inc`): never four in a row, so a fourth attempt always gets through. */
  lossy?: number[];
  /** Further rules of the forward chain, in nft's own words. */
  more?: string[];
}

/** The ports of a lab that shows every TCP state a filter can give (the ports not named here are open or vacant). */
export interface TcpStatePorts {
  drop: number;
  prohibited: number;
  hostUnreachable: number;
  reset: number;
}

/**
 * Router rules for every TCP state over IPv4 and IPv6: `drop` silent, `prohibited` ICMP admin-prohibited,
 * `hostUnreachable` ICMP host unreachable (ICMPv6 address unreachable), `reset` a TCP reset from the router.
 */
export function everyTcpState(port: TcpStatePorts): RouterRules {
  return {
    protocols: ['tcp'],
    drop: [port.drop],
    prohibited: [port.prohibited],
    prohibitedV6: true,
    more: [
      `meta nfproto ipv4 tcp dport ${port.hostUnreachable} reject with icmp type host-unreachable`,
      `meta nfproto ipv6 tcp dport ${port.hostUnreachable} reject with icmpv6 type addr-unreachable`,
      `tcp dport ${port.reset} reject with tcp reset`,
    ],
  };
}

/** The router's ruleset for `rules`, as `nft -f` reads it. */
export function routerRuleset(rules: RouterRules): string {
  const ports = (list: number[]): string =>
    `meta l4proto { ${rules.protocols.join(', ')} } th dport { ${list.join(', ')} }`;
  const lines: string[] = [];
  if (rules.drop?.length) lines.push(`${ports(rules.drop)} drop`);
  if (rules.prohibited?.length) {
    lines.push(`meta nfproto ipv4 ${ports(rules.prohibited)} reject with icmp type admin-prohibited`);
    if (rules.prohibitedV6) {
      lines.push(`meta nfproto ipv6 ${ports(rules.prohibited)} reject with icmpv6 type admin-prohibited`);
    }
  }
  if (rules.lossy?.length) lines.push(`${ports(rules.lossy)} numgen inc mod 10 < 3 drop`);
  lines.push(...(rules.more ?? []));
  return [
    'table inet filter {',
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    ...lines.map((line) => `    ${line}`),
    '  }',
    '}',
    '',
  ].join('\n');
}

/** A source NAT ruleset (table `table`) that masquerades UDP to `port` as the router's own address. */
export function masqueradeRuleset(table: string, port: number): string {
  return [
    `table ip ${table} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    udp dport ${port} masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** A lab whose router forwards by `rules`, and a temp dir for its daemons' files; both go at the test's teardown. */
export async function filteredLab(t: Test, name: string, rules: RouterRules): Promise<{ lab: Lab; dir: string }> {
  const lab = await Lab.create(t);
  const dir = await mkdtemp(join(tmpdir(), `reachgate-${name}-`));
  // The lab first: daemons write their state into the dir as they stop.
  t.teardown(async () => {
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  await lab.nft(lab.ns.router, routerRuleset(rules));
  return { lab, dir };
}
