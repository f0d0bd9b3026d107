import t from 'tap';
import type { ProbeResult } from '../../src/core/result.js';
import { LAB, needsLab } from '../lab/lab.js';
import { everyTcpState, filteredLab } from '../lab/filtered-lab.js';
import { namespaceCli, probeJson, reachgate } from '../helpers/cli.js';

// SYN mode (--scan syn) on real packets: every state of connect mode, IPv4 and IPv6, and no half-open
// connection left on the target.
const PORT = {
  open: 7100,
  drop: 7101,
  prohibited: 7102,
  hostUnreachable: 7103,
  reset: 7104,
  vacant: 7105,
  /** Listened on for the sweep's half-open check. */
  sweepOpen: [7110, 7111, 7112],
  /** Listened on; the router drops its first SYN-ACKs. */
  lostSynAck: 7140,
  /** Listened on; the router drops its first SYN-ACK and every SYN after the first. */
  lateSynAck: 7141,
};
const UNROUTED_V6 = '2001:db8:ff::7';

if (!needsLab(t)) {
  const { lab } = await filteredLab(t, 'tcp-syn', everyTcpState(PORT));
  await lab.listen(lab.ns.server, {
    address: '::',
    ports: [PORT.open, ...PORT.sweepOpen, PORT.lostSynAck, PORT.lateSynAck],
  });

  const client = await namespaceCli(t, lab.ns.client);
  const ports = [PORT.open, PORT.vacant, PORT.drop, PORT.prohibited, PORT.hostUnreachable, PORT.reset];
  const sweep = (address: string, extra: string[] = []) =>
    probeJson('tcp', [`${address}:${ports.join(',')}`, '--scan', 'syn', '--timeout', '1s', ...extra], { via: client });
  const byPort = (results: ProbeResult[]) => new Map(results.map((result) => [result.target.port, result]));

  for (const family of ['v4', 'v6'] as const) {
    t.test(`SYN mode gives every state of connect mode over IP${family}`, async (t) => {
      const server = LAB.server[family];
      const router = family === 'v4' ? LAB.router.clientV4 : LAB.router.clientV6;
      const { report } = await sweep(family === 'v4' ? server : `[${server}]`);
      const results = byPort(report.results);
      for (const result of report.results) t.match(result.evidence, { scan: 'syn' }, `${result.id} ran in SYN mode`);
      t.match(results.get(PORT.open), { state: 'open', attempts: 1 });
      t.match(results.get(PORT.open)?.reason, /^SYN-ACK in .*reset closed the half-open connection/);
      t.match(results.get(PORT.vacant), { state: 'closed', reason: /refused \(TCP reset\)/ });
      t.notOk(results.get(PORT.vacant)?.icmp, 'a reset is no ICMP error');
      t.match(results.get(PORT.drop), {
        state: 'filtered',
        reason: /no answer within 1 s \(1 attempt\): silently dropped/,
      });
      t.match(results.get(PORT.prohibited), {
        state: 'prohibited',
        icmp: family === 'v4' ? { type: 3, code: 13, from: router } : { type: 1, code: 1, from: router },
        reason: new RegExp(`^rejected by ${router.replace(/\./g, '\\.')}: ICMP`),
      });
      t.match(results.get(PORT.hostUnreachable), {
        state: 'unreachable',
        icmp: family === 'v4' ? { type: 3, code: 1, from: router } : { type: 1, code: 3, from: router },
      });
      t.match(results.get(PORT.reset), { state: 'closed' });
    });
  }

  t.test('SYN mode to a network the router has no route to gives unreachable, IPv4 and IPv6', async (t) => {
    const { report } = await probeJson(
      'tcp',
      [`${LAB.unroutedV4}:22`, `[${UNROUTED_V6}]:22`, '--scan', 'syn', '--timeout', '1s'],
      { via: client },
    );
    t.match(report.results, [
      { state: 'unreachable', icmp: { type: 3, code: 0, from: LAB.router.clientV4 } },
      { state: 'unreachable', icmp: { type: 1, code: 0, from: LAB.router.clientV6 } },
    ]);
  });

  t.test('a SYN sweep leaves no half-open connection on the target', async (t) => {
    const sweepPorts = `${PORT.sweepOpen[0]}-${PORT.sweepOpen.at(-1)! + 20}`;
    const { report } = await probeJson(
      'tcp',
      [`${LAB.server.v4}:${sweepPorts}`, `[${LAB.server.v6}]:${sweepPorts}`, '--scan', 'syn', '--timeout', '1s'],
      { via: client },
    );
    const open = report.results.filter((result) => result.state === 'open').map((result) => result.target.port);
    t.same(open, [...PORT.sweepOpen, ...PORT.sweepOpen], 'the listened ports answered, over both families');
    // A half-open connection would sit in SYN-RECV for a minute of SYN-ACK retransmissions.
    const ss = await lab.exec(lab.ns.server, 'ss', ['-Htan', 'state', 'syn-recv']);
    t.equal(ss.code, 0, ss.stderr);
    t.equal(ss.stdout.trim(), '', 'no connection in SYN-RECV');
  });

  t.test(
    'a retry is answered when the SYN-ACK to the attempt before was lost, on one probe and in a sweep',
    async (t) => {
      // The router drops the first two SYN-ACKs from the port (a table of its own, loaded afresh: `numgen inc` counts
      // from 0 again). The target keeps a half-open connection for each lost one and answers a repeated SYN of its
      // 4-tuple at most twice a second: retries from one source port stayed silent (attempts 3 and 4 here, 169 and
      // 394 ms after the first). Each attempt from a port of its own: the third is answered like any first SYN.
      const dropTwoSynAcks = () =>
        lab.nft(
          lab.ns.router,
          [
            'table inet synack',
            'delete table inet synack',
            'table inet synack {',
            '  chain forward {',
            '    type filter hook forward priority -10; policy accept;',
            `    tcp sport ${PORT.lostSynAck} tcp flags & (syn | ack) == syn | ack numgen inc mod 1000000 < 2 drop`,
            '  }',
            '}',
            '',
          ].join('\n'),
        );
      const args = ['--scan', 'syn', '--timeout', '900ms', '--attempts', '4'];
      await dropTwoSynAcks();
      const one = await probeJson('tcp', [`${LAB.server.v4}:${PORT.lostSynAck}`, ...args], { via: client });
      t.match(one.result, { state: 'open', attempts: 3, evidence: { scan: 'syn' } }, 'one probe: its third attempt');
      await dropTwoSynAcks();
      const swept = await probeJson('tcp', [`${LAB.server.v4}:${PORT.lostSynAck},${PORT.vacant}`, ...args], {
        via: client,
      });
      t.match(
        swept.report.results,
        [
          { state: 'open', attempts: 3, evidence: { scan: 'syn', engine: 'native' } },
          { state: 'closed', attempts: 1 },
        ],
        'the sweep engine: the third attempt too',
      );
      // The target's own SYN-ACK retransmission (a second after each lost one) gets this host's reset: nothing stays
      // half-open. Bounded: 20 looks 250 ms apart.
      let left = 'not looked';
      for (let look = 0; look < 20 && left !== ''; look += 1) {
        if (look > 0) await new Promise((resolve) => setTimeout(resolve, 250));
        const ss = await lab.exec(lab.ns.server, 'ss', ['-Htan', 'state', 'syn-recv']);
        left = ss.code === 0 ? ss.stdout.trim() : ss.stderr;
      }
      t.equal(left, '', 'no connection left in SYN-RECV');
    },
  );

  t.test("a late SYN-ACK to the first pass's SYN counts in a retry round", async (t) => {
    // The router drops the port's first SYN-ACK and every SYN to it after the first: only the target's own
    // retransmission of that SYN-ACK (a second later) can say the port is open. The sweep's first pass hears nothing
    // within 400 ms; the closed port measures the loss; the retry copies (two silent ports: the engine) run on past
    // the second, their SYNs dropped, and take the late SYN-ACK for the port they probe.
    await lab.nft(
      lab.ns.router,
      [
        'table inet late',
        'delete table inet late',
        'table inet late {',
        '  chain forward {',
        '    type filter hook forward priority -10; policy accept;',
        `    tcp sport ${PORT.lateSynAck} tcp flags & (syn | ack) == syn | ack numgen inc mod 1000000 < 1 drop`,
        `    tcp dport ${PORT.lateSynAck} tcp flags & (syn | ack) == syn numgen inc mod 1000000 >= 1 drop`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const { report } = await probeJson(
      'tcp',
      [`${LAB.server.v4}:${PORT.lateSynAck},${PORT.vacant},${PORT.drop}`, '--scan', 'syn', '--timeout', '400ms'],
      { via: client },
    );
    t.match(report.results, [
      { state: 'open', evidence: { scan: 'syn', engine: 'native' } },
      { state: 'closed' },
      { state: 'filtered' },
    ]);
    t.ok(report.results[0]!.attempts > 1, `answered in a retry: attempt ${report.results[0]!.attempts}`);
  });

  t.test('without CAP_NET_RAW --scan syn exits 2 and says why', async (t) => {
    const run = await reachgate(['probe', 'tcp', `${LAB.server.v4}:${PORT.open}`, '--scan', 'syn'], {
      netns: lab.ns.client,
      user: 'nobody',
    });
    t.equal(run.code, 2);
    t.equal(run.stdout, '');
    t.match(run.stderr, /--scan syn.* cannot run here: sending raw SYNs needs CAP_NET_RAW/);
  });

  t.test('without CAP_NET_RAW --scan auto falls back to connect and says so', async (t) => {
    const { code, result } = await probeJson('tcp', [`${LAB.server.v4}:${PORT.open}`, '--scan', 'auto'], {
      netns: lab.ns.client,
      user: 'nobody',
    });
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      reason: /^connected in /,
      evidence: { scan: 'connect', scan_fallback: /SYN mode unavailable: .*CAP_NET_RAW/ },
    });
  });

  t.test('--scan auto with the privilege runs SYN mode', async (t) => {
    const { result } = await probeJson('tcp', [`${LAB.server.v4}:${PORT.open}`, '--scan', 'auto'], { via: client });
    t.match(result, { state: 'open', evidence: { scan: 'syn' } });
  });
}
