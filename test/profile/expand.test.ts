import t, { type Test } from 'tap';
import { join } from 'node:path';
import { loadRun } from '../../src/profile/load.js';
import { expandProfiles } from '../../src/profile/expand.js';
import { sweepPorts } from '../../src/profile/sweep.js';

function site(extra: string): string {
  return `site: lab\n${extra}hosts:\n  tightgate: [198.51.100.10]\n  internet-canaries: [203.0.113.80]\n  ntp-servers: [198.51.100.123]\n`;
}

async function expand(t: Test, profiles: string[], siteText: string) {
  const dir = t.testdir({ 'site.yaml': siteText });
  const loaded = await loadRun(profiles, join(dir, 'site.yaml'));
  t.same(loaded.problems, [], 'valid');
  return expandProfiles(loaded.profiles, loaded.site!, loaded.kinds);
}

t.test('a row whose feature is in use is probed as the profile says', async (t) => {
  const { plan } = await expand(t, ['tightgate/tightgate'], site('features: [ntp]\n'));
  const ntp = plan.filter((spec) => spec.row === 'ntp');
  t.same(
    ntp.map((spec) => [spec.kind, spec.target.host, spec.target.port, spec.expect]),
    [['ntp', '198.51.100.123', 123, 'reachable']],
  );
});

t.test('an unused row turns into a negative probe of the servers the site names', async (t) => {
  const { plan } = await expand(t, ['tightgate/tightgate'], site(''));
  const ntp = plan.filter((spec) => spec.row === 'ntp');
  t.same(
    ntp.map((spec) => [spec.target.host, spec.expect]),
    [['198.51.100.123', 'blocked']],
  );
  t.match(ntp[0]!.note, /feature ntp is not in use at lab: this path must be closed/);
});

t.test('an unused row without named servers probes the Internet canaries', async (t) => {
  const { plan } = await expand(t, ['tightgate/tightgate'], site(''));
  const email = plan.filter((spec) => spec.row === 'email');
  t.same(
    email.map((spec) => [spec.target.host, spec.target.port, spec.expect]).sort(),
    [
      ['203.0.113.80', 110, 'blocked'],
      ['203.0.113.80', 143, 'blocked'],
      ['203.0.113.80', 25, 'blocked'],
      ['203.0.113.80', 993, 'blocked'],
      ['203.0.113.80', 995, 'blocked'],
    ].sort(),
  );
});

t.test('where an unused row overlaps a row in use, the row in use wins and the overlap is listed', async (t) => {
  const { plan, overlaps } = await expand(t, ['tightgate/tightgate'], site(''));
  const on80 = plan.filter((spec) => spec.target.host === '203.0.113.80' && spec.target.port === 80);
  t.same(
    on80.map((spec) => [spec.row, spec.expect]),
    [['web', 'reachable']],
  );
  t.match(
    overlaps.find((o) => o.row === 'terminal-servers' && o.port === 80),
    {
      kept: 'web',
      target: '203.0.113.80',
      reason: /row web is in use and expects it reachable; row terminal-servers would expect blocked/,
    },
  );
  const on22 = plan.filter(
    (spec) => spec.target.host === '203.0.113.80' && spec.target.port === 22 && spec.target.protocol === 'tcp',
  );
  t.same(
    on22.map((spec) => spec.row),
    ['updates'],
    "file-servers' 22 yields to updates",
  );
});

t.test('the workstation sweep leaves 5900 to the viewer row and 22 to sftp', async (t) => {
  const { plan, overlaps } = await expand(t, ['tightgate/workstation'], site('features: [sftp]\n'));
  const onTightgate = plan.filter((spec) => spec.target.host === '198.51.100.10');
  t.same(
    onTightgate.filter((spec) => spec.target.port === 5900).map((spec) => [spec.row, spec.expect]),
    [['viewer', 'reachable']],
  );
  t.same(
    onTightgate.filter((spec) => spec.target.port === 22).map((spec) => [spec.row, spec.expect]),
    [['sftp', 'reachable']],
  );
  t.equal(onTightgate.filter((spec) => spec.row === 'tightgate-only-intended').length, sweepPorts('common').length - 2);
  t.equal(overlaps.filter((o) => o.row === 'tightgate-only-intended').length, 2);
});

t.test('without sftp, port 22 of tightgate must be blocked, and is probed once', async (t) => {
  const { plan } = await expand(t, ['tightgate/workstation'], site(''));
  t.same(
    plan
      .filter((spec) => spec.target.host === '198.51.100.10' && spec.target.port === 22)
      .map((spec) => [spec.row, spec.expect]),
    [['sftp', 'blocked']],
  );
});

t.test('negative probes of the workstation name their positive control', async (t) => {
  const { plan } = await expand(t, ['tightgate/workstation'], site(''));
  const internet = plan.filter((spec) => spec.row === 'no-direct-internet');
  t.ok(internet.length >= 10);
  t.ok(internet.every((spec) => spec.control === 'tightgate' && spec.expect === 'blocked'));
  t.same([...new Set(internet.map((spec) => spec.kind))].sort(), ['dns', 'icmp', 'ntp', 'tcp']);
});

t.test('a full sweep covers all 65,535 ports', async (t) => {
  const { plan } = await expand(t, ['tightgate/workstation'], site('sweep: full\n'));
  t.equal(plan.filter((spec) => spec.row === 'tightgate-only-intended').length, 65_535 - 2);
});

t.test("site settings fill the profile's placeholders", async (t) => {
  const { plan } = await expand(
    t,
    ['tightgate/tightgate'],
    site('features: [syslog]\nsettings:\n  syslog-transport: relp\n  syslog-port: 2514\n').replace(
      '  ntp-servers',
      '  syslog-servers: [198.51.100.14]\n  ntp-servers',
    ),
  );
  const syslog = plan.filter((spec) => spec.row === 'syslog');
  t.same(
    syslog.map((spec) => [spec.target.host, spec.target.port, spec.target.protocol, spec.expect]),
    [['198.51.100.14', 2514, 'tcp', 'reachable']],
  );
});
