// The story `reachgate explain` tells, built in process from hand-made RunReports: from files, and from a real
// coordinator on loopback (its cell API). No packet is sent; the route lookup asks the kernel about 127.0.0.1 only.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { STATES } from '../../src/core/result.js';
import { summarize } from '../../src/core/verdict.js';
import { tcpResult } from '../helpers/probe-results.js';
import { loadProfile } from '../../src/profile/profile.js';
import { SITE, siteFile } from '../../src/lab/site-lab.js';
import { fromCoordinator, fromReports } from '../../src/explain/gather.js';
import { matchScore, readGuide } from '../../src/explain/guide.js';
import { buildStory, type Story } from '../../src/explain/story.js';
import { formatStory, TEXT_WIDTH } from '../../src/explain/text.js';
import { lookUpRoutes } from '../../src/run/routes.js';
import { FinalResults } from '../../src/run/final-results.js';
import type { ProbeSpec } from '../../src/core/probe-kind.js';
import type { RouteEvidence } from '../../src/core/route.js';
import { createCoordinatorServer } from '../../src/coordinator/server.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { createToken } from '../../src/coordinator/tokens.js';
import { matrixAsset, matrixHtmlParts, renderOverviewHtml } from '../../src/report/html-matrix.js';

const guide = readGuide();
if (!guide) throw new Error('docs/troubleshooting.md is missing from the checkout');
const ROUTE = { source: SITE.workstation, gateway: SITE.gateway.workstations, dev: 'eth0' };
const [CANARY] = SITE.canaries;
const workstation = (await loadProfile('tightgate/workstation')).profile!;

/** A judged TCP result as a run reports it, with the workstation's route unless `fields` say otherwise. */
function result(row: string, port: number, fields: Partial<ProbeResult>): ProbeResult {
  const address = fields.target?.address ?? SITE.tightgate;
  return tcpResult(row, address, port, { reason: 'connected in 0.6 ms', evidence: { route: ROUTE }, ...fields });
}

/** Results as a run's report carries them, given in reverse order: routes added (sweeps' first per address only). */
function withRoutes(results: ProbeResult[], routes: Map<string, RouteEvidence>, sweep = false): ProbeResult[] {
  const plan = results.map((r) => ({ ...r, sweep }) as unknown as ProbeSpec);
  const out: ProbeResult[] = [];
  const finals = new FinalResults(plan, (r, index) => (out[index] = r));
  finals.routesKnown(routes);
  for (let index = results.length - 1; index >= 0; index -= 1) finals.take(results[index]!, index);
  return out;
}

/** A RunReport of these results. */
function report(agent: string, role: string, results: ProbeResult[], profile = workstation): RunReport {
  return {
    id: `report-${agent}`,
    agent,
    role,
    site: 'site-lab',
    profile: { name: profile.name, hash: profile.hash },
    version: '0.1.0',
    started_at: '2026-11-30T05:00:00.000Z',
    finished_at: '2026-11-30T05:00:05.000Z',
    results,
    summary: summarize(results.map((r) => r.verdict)),
  };
}

const canary = (port: number, fields: Partial<ProbeResult>): ProbeResult =>
  result('no-direct-internet', port, {
    target: { host: CANARY!, address: CANARY!, port, protocol: 'tcp' },
    expect: 'blocked',
    control: 'tightgate',
    ...fields,
  });

const WS = report('ws', 'workstation', [
  result('viewer', 5900, {
    check: { ok: true, detail: 'TLS 1.3, certificate CN=tightgate.lab.test' },
    rtt_ms: 0.6,
    note: 'TightGate-Viewer, TLS-encrypted',
  }),
  // An older agent: no route recorded.
  result('sftp', 22, { evidence: {} }),
  canary(443, {
    state: 'filtered',
    reason: 'no answer within 2 s (3 attempts): silently dropped',
    attempts: 3,
    evidence: {
      route: ROUTE,
      silence: { attempts: 3, rounds: 3, loss: 0, loss_upper: 0.17, loss_probes: { sent: 16, lost: 0 }, bound: 0.001 },
    },
  }),
  canary(80, {
    state: 'prohibited',
    reason: 'rejected by 192.0.2.1: ICMP admin-prohibited (3/13) after 0.4 ms',
    icmp: { type: 3, code: 13, from: SITE.gateway.workstations },
  }),
]);
const TG = report('tg', 'tightgate', [
  result('web', 443, { target: { host: CANARY!, address: CANARY!, port: 443, protocol: 'tcp' } }),
]);

const dir = t.testdir({
  'ws.json': JSON.stringify(WS),
  'tg.json': JSON.stringify(TG),
  'site.yaml': siteFile(),
  'accepted.json': JSON.stringify({ 'ws|viewer': 'pass', 'ws|no-direct-internet': 'inconclusive' }),
});
const file = (name: string): string => join(dir, name);
const now = new Date('2026-11-30T05:01:00.000Z');

/** The lines of one step of a story, by its number. */
const step = (story: Story, number: number): string => story.steps[number - 1]!.lines.join('\n');

t.test('an open row tells the entry and site values behind it, the route, and who answered', async (t) => {
  const evidence = await fromReports([file('ws.json')], 'viewer', {
    profiles: ['tightgate/workstation'],
    site: file('site.yaml'),
    now,
  });
  const story = buildStory(evidence, guide);
  t.match(story, { row: 'viewer', agent: 'ws', role: 'workstation', mode: 'report', verdict: 'pass' });
  t.same(
    story.steps.map((s) => s.step),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  t.match(step(story, 1), /tightgate\/workstation entry 1 \(.*workstation\.yaml:8\): tcp to tightgate, ports 5900/);
  t.match(step(story, 1), /options \{"tls":true\}, expect reachable/);
  t.match(step(story, 1), `site site-lab: tightgate = ${SITE.tightgate}; settings.timeout = 2s`);
  t.match(step(story, 2), `${SITE.tightgate} is an address: nothing to resolve`);
  t.match(step(story, 3), `${SITE.tightgate}: via 192.0.2.1 dev eth0, source 192.0.2.10`);
  t.match(step(story, 4), /1 attempt with options \{"tls":true\}/);
  t.match(step(story, 5), `open: connected in 0.6 ms`);
  t.match(step(story, 5), `answered by ${SITE.tightgate} in 0.6 ms`);
  t.match(step(story, 5), 'check ok: TLS 1.3');
  t.match(step(story, 6), /no control: the row expects the path open/);
  t.match(step(story, 7), /^pass: the worst of 1 probe verdict \(1 pass\)/);
  t.match(step(story, 7), /no baseline given/);
  t.equal(step(story, 8), 'nothing to fix: every probe of the row passed');
});

t.test('a report without the route says it could not be determined', async (t) => {
  const story = buildStory(await fromReports([file('ws.json')], 'sftp', { now }), guide);
  t.match(step(story, 3), /^198\.51\.100\.10: could not be determined: the report records no route/);
  t.match(step(story, 1), /the profile tightgate\/workstation.*--site FILE|site's values need the site file/);
});

t.test('a negative row whose control role is missing is inconclusive, and the guide lists why', async (t) => {
  const story = buildStory(await fromReports([file('ws.json')], 'no-direct-internet', { now }), guide);
  t.match(story, { verdict: 'inconclusive', reported_verdict: 'pass' });
  t.match(
    step(story, 6),
    /203\.0\.113\.80: missing: no agent of role tightgate is at hand \(add its report with --report/,
  );
  t.match(step(story, 7), /the agent reported pass; 2 probes made inconclusive because the control/);
  t.match(step(story, 8), /see docs\/troubleshooting\.md#inconclusive-in-the-matrix/);
  t.match(step(story, 8), /- the control agent has not reported yet, or is stale/);
});

t.test("with the control role's report the control is met, and each answer is told with its sender", async (t) => {
  const evidence = await fromReports([file('ws.json'), file('tg.json')], 'no-direct-internet', {
    now,
    baseline: file('accepted.json'),
  });
  const story = buildStory(evidence, guide);
  t.match(story, { verdict: 'pass', agent: 'ws' });
  t.notOk('reported_verdict' in story);
  t.match(step(story, 6), `${CANARY}: met: tightgate agent(s) tg saw it open`);
  t.match(step(story, 5), 'ICMP 3/13 from 192.0.2.1, the first router on the route (step 3)');
  t.match(
    step(story, 5),
    `silent to 3 attempts in 3 rounds; loss to ${CANARY} measured 0 % (0 of 16 loss probes lost; at most 17 %)`,
  );
  t.match(step(story, 7), 'drift: the accepted baseline says inconclusive, now pass');
  // A passing block still says where the block is, in the guide's words.
  t.match(
    step(story, 8),
    /nothing to fix[^]*see docs\/troubleshooting\.md#prohibited[^]*- rejected by 192\.0\.2\.1: ICMP/,
  );
  t.match(
    step(story, 8),
    /see docs\/troubleshooting\.md#filtered[^]*- no answer within 2 s \(1 attempt\): silently dropped/,
  );
  const facts = story.steps[5]!.facts as { addresses: Array<{ met: boolean; seen_by: string[] }> };
  t.match(facts.addresses, [{ met: true, seen_by: ['tg'] }]);
});

t.test('a silent positive row quotes the guide on silence, and a failed check its checks section', async (t) => {
  const ntp = result('ntp', 123, {
    kind: 'ntp',
    target: { host: SITE.ntpServer, address: SITE.ntpServer, port: 123, protocol: 'udp' },
    state: 'filtered',
    verdict: 'fail',
    reason: 'no answer within 2 s (3 attempts): silently dropped',
    attempts: 3,
  });
  const tls = result('viewer', 5900, {
    verdict: 'fail',
    check: { ok: false, detail: 'TLS handshake did not finish before the deadline' },
    reason: 'connected in 0.5 ms, but TLS handshake did not finish before the deadline',
  });
  writeFileSync(file('fail.json'), JSON.stringify(report('tg2', 'tightgate', [ntp, tls])));
  const silent = buildStory(await fromReports([file('fail.json')], 'ntp', { now }), guide);
  t.equal(silent.verdict, 'fail');
  t.match(step(silent, 8), /ntp 198\.51\.100\.123:123\/udp: see docs\/troubleshooting\.md#filtered/);
  t.match(step(silent, 8), /likely causes: a drop rule;/);
  t.match(step(silent, 8), /1\. Check the control row/);
  const check = buildStory(await fromReports([file('fail.json')], 'viewer', { now }), guide);
  t.match(step(check, 8), /see docs\/troubleshooting\.md#checks-that-fail-on-an-open-port/);
  t.match(step(check, 8), /- TLS handshake did not finish before the deadline: the service accepted TCP/);
});

t.test('a one-way row names the responder whose receipt confirmed it, or that none did', async (t) => {
  const syslog = (receipt?: Record<string, unknown>): ProbeResult =>
    result('syslog', 514, {
      kind: 'syslog',
      confirm: 'syslog-responder',
      state: receipt ? 'open' : 'filtered',
      verdict: receipt ? 'pass' : 'inconclusive',
      reason: receipt ? 'delivered: responder rs (syslog-responder) saw its nonce' : 'sent 1 message; not confirmed',
      evidence: receipt ? { receipt } : {},
    });
  writeFileSync(
    file('one-way.json'),
    JSON.stringify(report('tg3', 'tightgate', [syslog({ responder: 'rs', received_at: '2026-11-30T05:00:01.000Z' })])),
  );
  const delivered = buildStory(await fromReports([file('one-way.json')], 'syslog', { now }), guide);
  t.equal(delivered.steps[5]!.title, 'The confirmation, and who gave it');
  t.match(step(delivered, 6), 'delivery confirmed by responder rs (role syslog-responder) at 2026-11-30T05:00:01.000Z');
  writeFileSync(file('one-way.json'), JSON.stringify(report('tg3', 'tightgate', [syslog()])));
  const silent = buildStory(await fromReports([file('one-way.json')], 'syslog', { now }), guide);
  t.match(
    step(silent, 6),
    'delivery is proven only by a receipt of responder role syslog-responder; none is recorded here',
  );
});

t.test('a row or agent that is not there is a usage error naming the close matches', async (t) => {
  await t.rejects(fromReports([file('ws.json')], 'viewr', { now }), {
    name: 'UsageError',
    message: /^no row `viewr` in .*ws\.json; close matches: viewer$/,
    hint: 'Rows there: viewer, sftp, no-direct-internet.',
  });
  await t.rejects(fromReports([file('ws.json')], 'internet', { now }), {
    message: /close matches: no-direct-internet$/,
  });
  await t.rejects(fromReports([file('ws.json'), file('tg.json')], 'viewer', { agent: 'wss', now }), {
    message: /^no report of agent `wss` among .*; close matches: ws$/,
  });
});

t.test('every line of the text fits 100 columns, steps numbered in order', async (t) => {
  const long = canary(25, {
    state: 'prohibited',
    reason: `rejected by 192.0.2.1: ICMP admin-prohibited (3/13) after 0.4 ms; ${'a very long note '.repeat(20)}`,
    icmp: { type: 3, code: 13, from: '192.0.2.1' },
    id: 'x'.repeat(150),
  });
  writeFileSync(file('long.json'), JSON.stringify(report('ws', 'workstation', [long])));
  const text = formatStory(buildStory(await fromReports([file('long.json')], 'no-direct-internet', { now }), guide));
  const lines = text.trimEnd().split('\n');
  t.same(
    lines.filter((line) => line.length > TEXT_WIDTH),
    [],
  );
  t.same(
    lines.filter((line) => /^\d+\. /.test(line)).map((line) => Number(line.split('.')[0])),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
});

t.test('the guide has a section and a glance row for every state, and its quoted reasons match', async (t) => {
  for (const state of STATES) {
    t.ok(guide.sections.has(state), `section ${state}`);
    t.ok(guide.glance.has(state), `glance row ${state}`);
  }
  t.ok(guide.sections.has('Checks that fail on an open port'));
  t.ok(guide.sections.has('inconclusive in the matrix'));
  const reason = 'rejected by 198.51.100.1: ICMP admin-prohibited (3/13) after 12 ms';
  t.ok(matchScore('rejected by 192.0.2.1: ICMP admin-prohibited (3/13) after 0.4 ms', reason) > 30);
  t.equal(matchScore('no answer within 2 s (1 attempt): silently dropped', reason), 0);
  t.ok(
    matchScore(
      'no answer within 2 s (1 attempt): silently dropped',
      'no answer within 2 s (3 attempts): silently dropped',
    ) > 40,
  );
  t.ok(
    matchScore(
      '...; silent to 10 attempts in 10 rounds, but the path is lossy',
      'no answer x; silent to 10 attempts in 10 rounds, but the path is lossy: loss',
    ) > 30,
  );
});

t.test('without the guide installed the last step names the sections to read', async (t) => {
  const story = buildStory(await fromReports([file('fail.json')], 'ntp', { now }), readGuide(dir));
  t.match(step(story, 8), /the troubleshooting guide is not installed here; read docs\/troubleshooting\.md#filtered/);
});

t.test(
  'a run records the route toward each address the kernel names; results of others stay as they were',
  async (t) => {
    const routes = await lookUpRoutes(['127.0.0.1', '127.0.0.1']);
    t.match([...routes], [['127.0.0.1', { type: 'local', dev: 'lo', source: '127.0.0.1' }]]);
    const [routed, unrouted] = withRoutes(
      [
        result('a', 1, { target: { host: 'l', address: '127.0.0.1', port: 1, protocol: 'tcp' }, evidence: { x: 1 } }),
        result('b', 1, { evidence: {} }),
      ],
      routes,
    );
    t.same(routed!.evidence, { x: 1, route: { source: '127.0.0.1', dev: 'lo', type: 'local' } });
    t.same(unrouted!.evidence, {});
    const local = { host: 'l', address: '127.0.0.1', port: 1, protocol: 'tcp' } as const;
    const swept = withRoutes(
      [
        result('s', 1, { target: local, evidence: {} }),
        result('s', 2, { target: { ...local, port: 2 }, evidence: {} }),
      ],
      routes,
      true,
    );
    t.same(
      swept.map((r) => 'route' in r.evidence!),
      [true, false],
      "a sweep's first result per address carries the route, the rest do not",
    );
  },
);

t.test(
  'from the coordinator: the cell with its control met and the baseline, the row list for a bad row',
  async (t) => {
    const store = SqliteStore.open(join(dir, 'coordinator.db'));
    const viewer = (await createToken(store, { kind: 'viewer' })).token;
    writeFileSync(file('viewer.token'), `${viewer}\n`);
    const received = new Date();
    for (const each of [WS, TG]) {
      const fresh = { ...each, finished_at: received.toISOString() };
      await store.addReport(fresh, JSON.stringify(fresh), received);
    }
    await store.acceptBaseline({
      baseline: { 'ws|no-direct-internet': 'pass', 'ws|viewer': 'fail' },
      accepted_at: received.toISOString(),
      accepted_by: 'test',
      approver: 'Jane Doe',
      change: 'CHG-1',
    });
    const app = createCoordinatorServer({
      store,
      logger: pino({ level: 'silent' }),
      page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
    });
    t.teardown(async () => {
      await app.close();
      await store.close();
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const source = {
      coordinator: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      tokenFile: file('viewer.token'),
    };
    const story = buildStory(await fromCoordinator(source, 'ws', 'no-direct-internet', {}), guide);
    t.match(story, { mode: 'coordinator', verdict: 'pass', role: 'workstation', site: 'site-lab' });
    t.match(step(story, 6), `${CANARY}: met: tightgate agent(s) tg saw it open`);
    t.match(step(story, 7), 'as accepted: the baseline says pass');
    t.match(
      step(story, 3),
      `${CANARY}: via 192.0.2.1 dev eth0, source 192.0.2.10`,
      'the stored results keep the route',
    );
    t.match(step(story, 1), /tightgate\/workstation entry 3 .*: tcp to internet-canaries/);
    const viewerStory = buildStory(await fromCoordinator(source, 'ws', 'viewer', {}), guide);
    t.match(step(viewerStory, 7), 'drift: the accepted baseline says fail, now pass');
    await t.rejects(fromCoordinator(source, 'ws', 'sfpt', {}), {
      name: 'UsageError',
      message: /^no row `sfpt` in the cells of agent ws; close matches: sftp$/,
    });
    await t.rejects(fromCoordinator(source, 'wz', 'viewer', {}), {
      message: /^no agent `wz` reports to .*close matches: ws$/,
    });
  },
);
