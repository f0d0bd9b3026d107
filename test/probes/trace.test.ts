import t from 'tap';
import type { ProbeResult } from '../../src/core/result.js';
import { needsLab } from '../lab/lab.js';
import { CHAIN, ChainLab } from '../lab/chain-lab.js';
import { namespaceCli, probeJson } from '../helpers/cli.js';

// --trace on a chain of three hops: client — router 1 — router 2 — server, with a drop or a reject on a chosen hop.
const PORT = {
  open: 7200,
  dropAtHop1: 7201,
  dropAtHop2: 7202,
  rejectAtHop2: 7203,
  udpDropAtHop2: 7204,
  syslogDropAtHop2: 7205,
};

const forwardChain = (lines: string[]): string =>
  ['table inet filter {', '  chain forward {', '    type filter hook forward priority 0; policy accept;']
    .concat(
      lines.map((line) => `    ${line}`),
      ['  }', '}', ''],
    )
    .join('\n');

if (!needsLab(t)) {
  const lab = await ChainLab.create(t);
  await lab.nft(lab.ns.router, forwardChain([`tcp dport ${PORT.dropAtHop1} drop`]));
  await lab.nft(
    lab.router2,
    forwardChain([
      `tcp dport ${PORT.dropAtHop2} drop`,
      `udp dport ${PORT.udpDropAtHop2} drop`,
      // Only datagrams whose payload starts like a syslog message (<14>): a trace without the probe's payload passes.
      `udp dport ${PORT.syslogDropAtHop2} @th,64,32 0x3c31343e drop`,
      `meta nfproto ipv4 tcp dport ${PORT.rejectAtHop2} reject with icmp type admin-prohibited`,
      `meta nfproto ipv6 tcp dport ${PORT.rejectAtHop2} reject with icmpv6 type admin-prohibited`,
      'icmp type echo-request drop',
      'icmpv6 type echo-request drop',
    ]),
  );
  await lab.listen(lab.ns.server, { address: '::', ports: [PORT.open] });

  const client = await namespaceCli(t, lab.ns.client);
  const trace = (result: ProbeResult | undefined) => result?.evidence?.trace as { summary: string; hops: unknown[] };

  for (const family of ['v4', 'v6'] as const) {
    const hop1 = CHAIN.router1[family];
    const hop2 = CHAIN.router2[family];
    const server = CHAIN.server[family];
    const host = family === 'v4' ? server : `[${server}]`;

    // SYN mode for the probe itself: in this chain Linux ignores the ICMPv6 reject in a connect (seen on 6.18).
    t.test(`--trace names the hop where a TCP path dies, IP${family}`, async (t) => {
      const ports = [PORT.open, PORT.dropAtHop1, PORT.dropAtHop2, PORT.rejectAtHop2];
      const { report } = await probeJson(
        'tcp',
        [`${host}:${ports.join(',')}`, '--scan', 'syn', '--trace', '--timeout', '1s'],
        { via: client },
      );
      const [open, dropAtHop1, dropAtHop2, rejectAtHop2] = report.results;
      t.match(open, { state: 'open' });
      t.equal(trace(open).summary, `forwarded by ${hop1} (hop 1), ${hop2} (hop 2); reached ${server} (hop 3)`);
      t.match(dropAtHop1, { state: 'filtered' });
      t.equal(trace(dropAtHop1).summary, `forwarded by ${hop1} (hop 1); silently dropped after hop 1`);
      t.match(dropAtHop2, { state: 'filtered' });
      t.equal(trace(dropAtHop2).summary, `forwarded by ${hop1} (hop 1), ${hop2} (hop 2); silently dropped after hop 2`);
      t.match(dropAtHop2?.reason, /: silently dropped; path: forwarded by .* silently dropped after hop 2(;|$)/);
      t.match(trace(dropAtHop2).hops, [
        { hop: 1, from: hop1, answer: 'time-exceeded' },
        { hop: 2, from: hop2, answer: 'time-exceeded' },
      ]);
      t.match(rejectAtHop2, { state: 'prohibited', icmp: { from: hop2 } });
      t.equal(
        trace(rejectAtHop2).summary,
        `forwarded by ${hop1} (hop 1); rejected by ${hop2} (hop 2) with ICMP admin-prohibited`,
      );
    });

    t.test(`--trace follows UDP with the probe's payload and ICMP echo, IP${family}`, async (t) => {
      const udp = await probeJson(
        'udp',
        [`${host}:${PORT.udpDropAtHop2}`, '--send', 'hello', '--trace', '--timeout', '1s'],
        { via: client },
      );
      t.match(udp.result, { state: 'filtered' });
      t.equal(trace(udp.result).summary, `forwarded by ${hop1} (hop 1), ${hop2} (hop 2); silently dropped after hop 2`);
      const echo = await probeJson('icmp', [server, '--trace', '--timeout', '1s'], { via: client });
      t.match(echo.result, { state: 'filtered' });
      t.equal(
        trace(echo.result).summary,
        `forwarded by ${hop1} (hop 1), ${hop2} (hop 2); silently dropped after hop 2`,
      );
    });
  }

  t.test('each UDP kind traces with its own request: a drop on hop 2 is named, IPv4 and IPv6', async (t) => {
    const both = (port: number): string[] => [`${CHAIN.server.v4}:${port}`, `[${CHAIN.server.v6}]:${port}`];
    const kinds: Array<[string, string[]]> = [
      ['dns', []],
      ['ntp', []],
      ['snmp', []],
      ['kerberos', ['--realm', 'EXAMPLE.ORG']],
    ];
    const runs = await Promise.all([
      ...kinds.map(([kind, args]) =>
        probeJson(kind, [...both(PORT.udpDropAtHop2), ...args, '--trace', '--timeout', '1s'], { via: client }),
      ),
      probeJson('syslog', [...both(PORT.syslogDropAtHop2), '--trace', '--timeout', '1s'], { via: client }),
    ]);
    const syslog = runs.pop()!;
    for (const [index, { report }] of runs.entries()) {
      for (const [family, result] of [
        ['v4', report.results[0]],
        ['v6', report.results[1]],
      ] as const) {
        const hops = `forwarded by ${CHAIN.router1[family]} (hop 1), ${CHAIN.router2[family]} (hop 2)`;
        t.match(result, { state: 'filtered', verdict: 'fail' }, `${kinds[index]![0]} IP${family}`);
        t.equal(trace(result).summary, `${hops}; silently dropped after hop 2`, `${kinds[index]![0]} IP${family}`);
      }
    }
    // The rule matches the syslog payload only: a traced copy without it would reach the server's closed port.
    for (const [family, result] of [
      ['v4', syslog.report.results[0]],
      ['v6', syslog.report.results[1]],
    ] as const) {
      const hops = `forwarded by ${CHAIN.router1[family]} (hop 1), ${CHAIN.router2[family]} (hop 2)`;
      t.match(result, { state: 'filtered', verdict: 'inconclusive' }, `syslog IP${family}`);
      t.equal(
        trace(result).summary,
        `${hops}; silent after hop 2 (the far end never answers this datagram: delivered or dropped)`,
        `syslog IP${family}: one-way, so silence past hop 2 is not called a drop`,
      );
    }
  });

  t.test('without --trace a probe from the command line traces nothing', async (t) => {
    const { result } = await probeJson('tcp', [`${CHAIN.server.v4}:${PORT.dropAtHop2}`, '--timeout', '500ms'], {
      via: client,
    });
    t.match(result, { state: 'filtered' });
    t.notOk(result.evidence?.trace);
  });
}
