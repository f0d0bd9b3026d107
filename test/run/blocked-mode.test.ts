import t from 'tap';
import type { ProbeResult } from '../../src/core/result.js';
import { blockedModeReason, judge } from '../../src/core/verdict.js';
import { noteFamilyDifferences } from '../../src/run/families.js';
import { LAB, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { probeJson } from '../helpers/cli.js';

const PORT = { v4DropV6Reject: 7001, v4RejectV6Drop: 7002 };
const ROUTER_V6 = LAB.router.clientV6;
const ROUTER_V4 = LAB.router.clientV4;

t.test('a blocked mode passes only the matching kind of block', async (t) => {
  const icmp = { type: 3, code: 13, from: ROUTER_V4 };
  t.equal(judge('blocked', 'filtered', undefined, false, 'drop'), 'pass');
  t.equal(judge('blocked', 'prohibited', undefined, false, 'drop', icmp), 'fail');
  t.equal(judge('blocked', 'closed', undefined, false, 'drop'), 'fail', 'a reset is a reject');
  t.equal(judge('blocked', 'filtered', undefined, false, 'reject'), 'fail');
  t.equal(judge('blocked', 'prohibited', undefined, false, 'reject', icmp), 'pass');
  t.equal(judge('blocked', 'unreachable', undefined, false, 'reject', { ...icmp, code: 1 }), 'pass');
  t.equal(
    judge('blocked', 'unreachable', undefined, false, 'reject'),
    'inconclusive',
    'unreachable without the ICMP error may be a missing route',
  );
  t.equal(judge('blocked', 'open', undefined, false, 'drop'), 'fail');
  t.equal(judge('blocked', 'closed', undefined, false, 'any'), 'pass');
  t.equal(judge('reachable', 'open', undefined, false, 'drop'), 'pass', 'a mode means nothing for reachable');
  t.equal(
    blockedModeReason('drop', 'prohibited', 'rejected by 192.0.2.1', icmp),
    'expected a silent drop, but rejected: rejected by 192.0.2.1',
  );
  t.equal(blockedModeReason('drop', 'filtered', 'no answer'), 'no answer');
});

t.test('the families of one path are compared only when both were probed and answered differently', async (t) => {
  const result = (address: string, state: ProbeResult['state'], port = 22): ProbeResult => ({
    id: `${address}:${port}`,
    kind: 'tcp',
    target: { host: 'far.test', address, port, protocol: 'tcp' },
    expect: 'blocked',
    state,
    verdict: 'pass',
    reason: state,
    attempts: 1,
    started_at: '2026-01-01T00:00:00.000Z',
    ...(state === 'prohibited' ? { icmp: { type: 1, code: 1, from: ROUTER_V6 } } : {}),
  });
  const noted = noteFamilyDifferences([
    result(LAB.server.v4, 'filtered'),
    result(LAB.server.v6, 'prohibited'),
    result(LAB.server.v4, 'filtered', 23),
    result(LAB.server.v6, 'filtered', 23),
    result(LAB.server.v4, 'closed', 24),
  ]);
  const difference = `IPv4 dropped, IPv6 rejected by ${ROUTER_V6} with ICMPv6 admin-prohibited`;
  t.same(
    noted.map((r) => r.reason),
    [`filtered; ${difference}`, `prohibited; ${difference}`, 'filtered', 'filtered', 'closed'],
  );
});

t.test('a router that drops one family and rejects the other', async (t) => {
  if (needsLab(t)) return;
  const { lab } = await filteredLab(t, 'blocked-mode', {
    protocols: ['tcp', 'udp'],
    more: [
      `meta nfproto ipv4 meta l4proto { tcp, udp } th dport ${PORT.v4DropV6Reject} drop`,
      `meta nfproto ipv6 meta l4proto { tcp, udp } th dport ${PORT.v4DropV6Reject} reject with icmpv6 type admin-prohibited`,
      `meta nfproto ipv4 meta l4proto { tcp, udp } th dport ${PORT.v4RejectV6Drop} reject with icmp type admin-prohibited`,
      `meta nfproto ipv6 meta l4proto { tcp, udp } th dport ${PORT.v4RejectV6Drop} drop`,
    ],
  });
  await lab.dns(lab.ns.client, '127.0.0.1', { 'far.test': [LAB.server.v4, LAB.server.v6] });
  const ports = `${PORT.v4DropV6Reject},${PORT.v4RejectV6Drop}`;
  const common = ['--expect', 'blocked', '--resolver', '127.0.0.1'];
  // Linux fails a TCP connect on ICMPv6 admin-prohibited only at the SYN's retransmission, one second in.
  const [drop, reject] = await Promise.all([
    probeJson('tcp', [`far.test:${ports}`, ...common, '--timeout', '2500ms', '--blocked', 'drop'], {
      netns: lab.ns.client,
    }),
    probeJson('udp', [`far.test:${ports}`, ...common, '--timeout', '1s', '--blocked', 'reject', '--send', 'x'], {
      netns: lab.ns.client,
    }),
  ]);
  const outcome = (results: ProbeResult[]) =>
    results.map((r) => [r.target.address, r.target.port, r.state, r.verdict, r.blocked]);
  t.same(outcome(drop.report.results), [
    [LAB.server.v4, PORT.v4DropV6Reject, 'filtered', 'pass', 'drop'],
    [LAB.server.v4, PORT.v4RejectV6Drop, 'prohibited', 'fail', 'drop'],
    [LAB.server.v6, PORT.v4DropV6Reject, 'prohibited', 'fail', 'drop'],
    [LAB.server.v6, PORT.v4RejectV6Drop, 'filtered', 'pass', 'drop'],
  ]);
  t.equal(drop.code, 1);
  t.same(outcome(reject.report.results), [
    [LAB.server.v4, PORT.v4DropV6Reject, 'filtered', 'fail', 'reject'],
    [LAB.server.v4, PORT.v4RejectV6Drop, 'prohibited', 'pass', 'reject'],
    [LAB.server.v6, PORT.v4DropV6Reject, 'prohibited', 'pass', 'reject'],
    [LAB.server.v6, PORT.v4RejectV6Drop, 'filtered', 'fail', 'reject'],
  ]);
  const reasonsAt = (results: ProbeResult[], port: number) =>
    results.filter((r) => r.target.port === port).map((r) => r.reason);
  for (const reason of reasonsAt(drop.report.results, PORT.v4DropV6Reject))
    t.match(reason, `IPv4 dropped, IPv6 rejected by ${ROUTER_V6} with ICMPv6 admin-prohibited`);
  for (const reason of reasonsAt(reject.report.results, PORT.v4RejectV6Drop))
    t.match(reason, `IPv4 rejected by ${ROUTER_V4} with ICMP admin-prohibited, IPv6 dropped`);
  const v6Failed = drop.report.results.find((r) => r.target.address === LAB.server.v6 && r.verdict === 'fail');
  t.match(v6Failed?.reason, /^expected a silent drop, but rejected: rejected by 2001:db8:1::1/);
});
