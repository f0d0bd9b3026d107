import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LAB, Lab, needsLab, waitForOutput } from '../lab/lab.js';
import { reachgateJson } from '../helpers/cli.js';
import type { DoctorReport } from '../../src/doctor/doctor.js';
import type { Finding } from '../../src/doctor/finding.js';

// doctor --site from the lab's client namespace: routes and source addresses toward the site's hosts (asked of
// the kernel, nothing sent), names resolved by a dnsmasq in the lab, and the clock against NTP servers in the lab.
const SERVER = LAB.server.v4;
const AHEAD = '198.51.100.11';
const SILENT = '198.51.100.12';

// Answers NTP requests on ADDRESS:123 with the time 5 s ahead; ends itself after 120 s.
const AHEAD_RESPONDER = `
const socket = require('node:dgram').createSocket('udp4');
const stamp = (ms) => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(ms / 1000) + 2208988800, 0);
  b.writeUInt32BE(Math.floor((ms % 1000) / 1000 * 2 ** 32), 4);
  return b;
};
socket.on('message', (request, peer) => {
  const reply = Buffer.alloc(48); reply[0] = 0x24; reply[1] = 2; reply.writeInt8(-20, 3); Buffer.from([192, 0, 2, 123]).copy(reply, 12);
  request.copy(reply, 24, 40, 48);
  const now = Date.now() + 5000; stamp(now).copy(reply, 16); stamp(now).copy(reply, 32); stamp(now).copy(reply, 40);
  socket.send(reply, peer.port, peer.address);
});
socket.bind(123, process.argv[1], () => console.log('ready'));
setTimeout(() => process.exit(0), 120000);
`;

function byCheck(report: DoctorReport, check: string): Finding[] {
  return report.findings.filter((item) => item.check === check);
}

t.test('doctor --site in the lab', async (t) => {
  if (needsLab(t)) return;
  const lab = await Lab.create(t);
  const dir = await mkdtemp(join(tmpdir(), 'reachgate-doctor-'));
  // `ip netns exec` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf: the client resolves with the lab's dnsmasq.
  const netnsEtc = join('/etc/netns', lab.ns.client);
  t.teardown(async () => {
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
    await rm(netnsEtc, { recursive: true, force: true });
    // /etc/netns itself too, unless another namespace still has files there.
    await rmdir('/etc/netns').catch(() => {});
  });
  await mkdir(netnsEtc, { recursive: true });
  await writeFile(join(netnsEtc, 'resolv.conf'), `nameserver ${SERVER}\nsearch test\n`);
  for (const address of [AHEAD, SILENT])
    await lab.exec(lab.ns.server, 'ip', ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await lab.exec(lab.ns.client, 'ip', ['route', 'add', 'unreachable', '203.0.113.0/24']);
  await lab.dns(lab.ns.server, SERVER, { 'tg.test': [LAB.server.v4, LAB.server.v6] });

  const conf = join(dir, 'chrony.conf');
  await writeFile(
    conf,
    [
      `bindaddress ${SERVER}`,
      'allow',
      'local stratum 8',
      `driftfile ${join(dir, 'drift')}`,
      `pidfile ${join(dir, 'chronyd.pid')}`,
      'cmdport 0',
      'bindcmdaddress /',
      '',
    ].join('\n'),
  );
  // -d: foreground, log to stderr; -x: never touch the system clock; -u root: keep the temp files readable.
  const chronyd = await lab.spawn(lab.ns.server, 'chronyd', ['-d', '-x', '-u', 'root', '-f', conf]);
  await waitForOutput(chronyd, 'stderr', 'Running with root privileges', 'chronyd');
  const responder = await lab.spawn(lab.ns.server, process.execPath, ['-e', AHEAD_RESPONDER, AHEAD]);
  await waitForOutput(responder, 'stdout', 'ready', 'the NTP responder');

  /** Write a site whose NTP server is `ntp` and run doctor on it from the client namespace. */
  const doctor = async (
    ntp: string,
    extraHosts: string[] = [],
  ): Promise<{ code: number | null; report: DoctorReport }> => {
    const site = join(dir, `site-${ntp}.yaml`);
    await writeFile(
      site,
      [
        'site: doctor-lab',
        'features: [ntp]',
        'hosts:',
        '  tightgate: [tg.test]',
        '  internet-canaries: [203.0.113.7]',
        `  ntp-servers: [${ntp}]`,
        ...extraHosts,
        'settings:',
        '  timeout: 2s',
        '',
      ].join('\n'),
    );
    const args = ['doctor', '--site', site, '--json'];
    const { code, json: report } = await reachgateJson<DoctorReport>(args, { netns: lab.ns.client });
    return { code, report };
  };

  const { code, report } = await doctor(SERVER, ['  proxy: [nx.test]']);

  t.test("the resolvers are the namespace's resolv.conf", async (t) => {
    t.match(byCheck(report, 'resolvers'), [
      {
        status: 'ok',
        message: `nameserver ${SERVER}; search test`,
        evidence: { nameservers: [SERVER], search: ['test'] },
      },
    ]);
  });

  t.test('each address of a name gets its route and source address', async (t) => {
    const routes = byCheck(report, 'route');
    t.match(
      routes.find((item) => item.subject === `tightgate tg.test (${LAB.server.v4})`),
      {
        status: 'ok',
        message: `${LAB.server.v4} via ${LAB.router.clientV4} dev eth0, source ${LAB.client.v4}`,
        evidence: { address: LAB.server.v4, gateway: LAB.router.clientV4, dev: 'eth0', source: LAB.client.v4 },
      },
    );
    t.match(
      routes.find((item) => item.subject === `tightgate tg.test (${LAB.server.v6})`),
      {
        status: 'ok',
        evidence: { address: LAB.server.v6, gateway: LAB.router.clientV6, dev: 'eth0', source: LAB.client.v6 },
      },
    );
  });

  t.test('an unreachable route fails with the command to find it', async (t) => {
    t.match(
      byCheck(report, 'route').find((item) => item.subject === 'internet-canaries 203.0.113.7'),
      {
        status: 'fail',
        message: 'no route toward 203.0.113.7: an `unreachable` route covers it',
        fix: 'find the route or rule that covers 203.0.113.7: ip route get 203.0.113.7; ip route show table all; ip rule',
        evidence: { kernel: 'No route to host' },
      },
    );
  });

  t.test('a name that does not resolve fails and says so', async (t) => {
    t.match(
      byCheck(report, 'route').find((item) => item.subject === 'proxy nx.test'),
      {
        status: 'fail',
        message:
          /^nx\.test: name does not exist \(NXDOMAIN\) \(system resolver\): every probe of proxy will say unresolved$/,
        fix: /hosts\.proxy/,
      },
    );
  });

  t.test('a chronyd in the lab puts the clock within a second (both namespaces share the kernel clock)', async (t) => {
    const [clock] = byCheck(report, 'clock');
    t.match(clock, {
      status: 'ok',
      subject: SERVER,
      message: /^this host's clock is within 1(\.0)? s of the NTP server: stratum 8, offset [+-]/,
      evidence: { state: 'open', stratum: 8 },
    });
    t.ok(Math.abs(Number(clock?.evidence?.offset_ms)) < 1000);
  });

  t.test('a failing finding makes the exit code 1', async (t) => {
    t.equal(code, 1);
    t.ok(report.summary.fail >= 2);
  });

  t.test('a server 5 s ahead warns that this host is behind and says how to synchronize', async (t) => {
    const ahead = await doctor(AHEAD);
    const [clock] = byCheck(ahead.report, 'clock');
    t.match(clock, {
      status: 'warn',
      message: /^this host's clock is 5(\.0)? s behind the NTP server \(more than 1(\.0)? s\)$/,
      fix: new RegExp(`server ${AHEAD.replace(/\./g, '\\.')} iburst`),
    });
    t.ok(Math.abs(Number(clock?.evidence?.offset_ms) - 5000) < 500);
  });

  t.test(
    "an NTP server that does not answer fails with the probe's reason and the command to look closer",
    async (t) => {
      const silent = await doctor(SILENT);
      t.match(byCheck(silent.report, 'clock'), [
        {
          status: 'fail',
          message: /^the NTP server did not answer: closed: ICMP port unreachable \(ECONNREFUSED\)/,
          fix: `check the path and the server: reachgate probe ntp ${SILENT}`,
          evidence: { state: 'closed' },
        },
      ]);
    },
  );
});
