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
};
const UNROUTED_V6 = '2001:db8:ff::7';

if (!needsLab(t)) {
  const { lab } = await filteredLab(t, 'tcp-syn', everyTcpState(PORT));
  await lab.listen(lab.ns.server, { address: '::', ports: [PORT.open, ...PORT.sweepOpen] });

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
