import t from 'tap';
import { LAB, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { namespaceCli, probeJson } from '../helpers/cli.js';

// Every state of the result model, on real packets: a client, a router with nftables, a server.
const PORT = {
  open: 7000,
  drop: 7001,
  prohibited: 7002,
  hostUnreachable: 7003,
  reset: 7004,
  vacant: 7005,
  tls: 7443,
  echo: 7007,
};
const SERVER = LAB.server.v4;

if (!needsLab(t)) {
  const { lab } = await filteredLab(t, 'tcp', {
    protocols: ['tcp'],
    drop: [PORT.drop],
    prohibited: [PORT.prohibited],
    prohibitedV6: true,
    more: [
      `tcp dport ${PORT.hostUnreachable} reject with icmp type host-unreachable`,
      `tcp dport ${PORT.reset} reject with tcp reset`,
    ],
  });
  const cert = await lab.certificate({ cn: 'tg.test', sans: ['tg.test', SERVER] });
  const otherCa = await lab.certificate({ cn: 'other-ca.test', sans: ['other-ca.test'] });
  await lab.listen(lab.ns.server, { address: '::', ports: [PORT.open], banner: 'SSH-2.0-lab\r\n' });
  await lab.listen(lab.ns.server, {
    address: SERVER,
    ports: [PORT.tls],
    banner: 'RFB 003.008\n',
    tls: { cert: cert.certFile, key: cert.keyFile },
  });
  await lab.listen(lab.ns.server, { address: SERVER, ports: [PORT.echo], echo: true });
  await lab.dns(lab.ns.client, '127.0.0.1', { 'tg.test': [SERVER, LAB.server.v6] });

  /** Probe from the client namespace (its CLI runner; a run as another user is a process of its own). */
  const client = await namespaceCli(t, lab.ns.client);
  const probe = (args: string[], options: { user?: string; env?: NodeJS.ProcessEnv } = {}) =>
    probeJson('tcp', args, options.user ? { netns: lab.ns.client, ...options } : { via: client, ...options });

  t.test('a listener gives open with its round-trip time', async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.open}`]);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      attempts: 1,
      target: { address: SERVER, port: PORT.open, protocol: 'tcp' },
    });
    t.ok(result.rtt_ms! > 0);
    t.match(result.reason, /^connected in /);
  });

  t.test('a port nobody listens on gives closed by a TCP reset', async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.vacant}`]);
    t.equal(code, 1);
    t.match(result, { state: 'closed', verdict: 'fail' });
    t.match(result.reason, /refused \(TCP reset\)/);
    t.notOk(result.icmp);
  });

  t.test("a drop rule gives filtered at the deadline, far from the kernel's two minutes", async (t) => {
    const started = Date.now();
    const { result } = await probe([`${SERVER}:${PORT.drop}`, '--timeout', '500ms']);
    const elapsed = Date.now() - started;
    t.match(result, { state: 'filtered', verdict: 'fail', attempts: 1 });
    t.match(result.reason, /no answer within 500 ms \(1 attempt\): silently dropped/);
    // The whole CLI run, start-up included: a loaded machine adds seconds to that, never the kernel's two minutes.
    t.ok(elapsed < 15_000, `answered in ${elapsed} ms`);
  });

  t.test('a reject rule with admin-prohibited gives prohibited and names the router', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.prohibited}`]);
    t.match(result, { state: 'prohibited', icmp: { type: 3, code: 13, from: LAB.router.clientV4 } });
    t.match(
      result.reason,
      new RegExp(`^rejected by ${LAB.router.clientV4.replace(/\./g, '\\.')}: ICMP admin-prohibited \\(3/13\\) after `),
    );
  });

  t.test('an ICMPv6 admin-prohibited gives prohibited for an IPv6 target', async (t) => {
    const { result } = await probe([`[${LAB.server.v6}]:${PORT.prohibited}`]);
    t.match(result, { state: 'prohibited', icmp: { type: 1, code: 1, from: LAB.router.clientV6 } });
    t.match(result.reason, /rejected by 2001:db8:1::1: ICMPv6 admin-prohibited \(1\/1\)/);
  });

  t.test('a reject rule with host-unreachable gives unreachable from the router', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.hostUnreachable}`]);
    t.match(result, { state: 'unreachable', icmp: { type: 3, code: 1, from: LAB.router.clientV4 } });
    t.match(result.reason, /192\.0\.2\.1 answered ICMP host-unreachable \(3\/1\)/);
  });

  t.test('a network the router has no route to gives unreachable with net-unreachable', async (t) => {
    const { result } = await probe([`${LAB.unroutedV4}:22`]);
    t.match(result, { state: 'unreachable', icmp: { type: 3, code: 0, from: LAB.router.clientV4 } });
  });

  t.test('a reject rule with a TCP reset gives closed', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.reset}`]);
    t.match(result, { state: 'closed', verdict: 'fail' });
  });

  t.test(
    'several ports in one target each get their own state, and blocked passes on every blocking state',
    async (t) => {
      const ports = [PORT.drop, PORT.prohibited, PORT.hostUnreachable, PORT.reset, PORT.vacant];
      const { code, report } = await probe([
        `${SERVER}:${ports.join(',')}`,
        '--expect',
        'blocked',
        '--timeout',
        '500ms',
      ]);
      t.same(
        report.results.map((r) => [r.target.port, r.state, r.verdict]),
        [
          [PORT.drop, 'filtered', 'pass'],
          [PORT.prohibited, 'prohibited', 'pass'],
          [PORT.hostUnreachable, 'unreachable', 'pass'],
          [PORT.reset, 'closed', 'pass'],
          [PORT.vacant, 'closed', 'pass'],
        ],
      );
      t.same(report.summary, { pass: 5, fail: 0, inconclusive: 0, error: 0 });
      t.equal(code, 0);
    },
  );

  t.test('an open port fails a blocked expectation and exits 1', async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.open}`, '--expect', 'blocked']);
    t.match(result, { state: 'open', verdict: 'fail' });
    t.equal(code, 1);
  });

  t.test('a name the test resolver does not know gives unresolved with its answer', async (t) => {
    const { code, result } = await probe(['nowhere.test:22', '--resolver', '127.0.0.1']);
    t.match(result, {
      state: 'unresolved',
      verdict: 'fail',
      attempts: 0,
      target: { host: 'nowhere.test', address: null, port: 22 },
    });
    t.match(result.reason, /nowhere\.test: name does not exist \(NXDOMAIN\) \(resolver 127\.0\.0\.1:53\)/);
    t.equal(code, 1);
  });

  t.test('every address of a name is probed on its own', async (t) => {
    const { report } = await probe([`tg.test:${PORT.open}`, '--resolver', '127.0.0.1']);
    t.same(report.results.map((r) => [r.target.host, r.target.address, r.state]).sort(), [
      ['tg.test', SERVER, 'open'],
      ['tg.test', LAB.server.v6, 'open'],
    ]);
  });

  t.test('--tls reports the certificate a listener shows', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.tls}`, '--tls', '--servername', 'tg.test']);
    t.match(result, { state: 'open', verdict: 'pass', check: { ok: true } });
    t.match(result.evidence, {
      tls: { subject: /CN=tg\.test/, sans: ['DNS:tg.test', `IP Address:${SERVER}`], days_left: 29 },
    });
    t.match((result.evidence as { tls: { protocol: string } }).tls.protocol, /^TLSv1\.[23]$/);
  });

  t.test('--ca verifies the certificate, and an untrusted one is a failed check, not a crash', async (t) => {
    const trusted = await probe([`${SERVER}:${PORT.tls}`, '--tls', '--servername', 'tg.test', '--ca', cert.certFile]);
    t.match(trusted.result, { state: 'open', verdict: 'pass', evidence: { tls: { verified: true } } });
    const untrusted = await probe([
      `${SERVER}:${PORT.tls}`,
      '--tls',
      '--servername',
      'tg.test',
      '--ca',
      otherCa.certFile,
    ]);
    t.match(untrusted.result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: /not trusted by --ca/ },
      evidence: { tls: { verified: false } },
    });
    t.equal(untrusted.code, 1);
  });

  t.test('a banner inside TLS is checked after the handshake', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.tls}`, '--tls', '--expect-reply', '^RFB 003\\.00[378]']);
    t.match(result, { state: 'open', verdict: 'pass', evidence: { reply: '"RFB 003.008\\n"' } });
  });

  t.test('a banner that matches passes and one that does not shows the bytes seen', async (t) => {
    const good = await probe([`${SERVER}:${PORT.open}`, '--expect-reply', '^SSH-2\\.0']);
    t.match(good.result, { state: 'open', verdict: 'pass', check: { ok: true } });
    const bad = await probe([`${SERVER}:${PORT.open}`, '--expect-reply', '^220 ']);
    t.match(bad.result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: 'reply did not match /^220 /: "SSH-2.0-lab\\r\\n"' },
    });
  });

  t.test('--send writes a request and the reply is checked', async (t) => {
    const { result } = await probe([
      `${SERVER}:${PORT.echo}`,
      '--send',
      'PING reachgate\\r\\n',
      '--expect-reply',
      'PING reachgate',
    ]);
    t.match(result, { state: 'open', verdict: 'pass' });
  });

  t.test('--source binds the local address, and one this host lacks is an error', async (t) => {
    const own = await probe([`${SERVER}:${PORT.open}`, '--source', LAB.client.v4]);
    t.match(own.result, { state: 'open' });
    const foreign = await probe([`${SERVER}:${PORT.open}`, '--source', '198.51.100.99']);
    t.match(foreign.result, { state: 'error', verdict: 'error', reason: /EADDRNOTAVAIL/ });
  });

  t.test('without the raw socket a rejection is unreachable, with a note on what telling it apart needs', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.prohibited}`], { env: { REACHGATE_RAW_SOCKET: 'off' } });
    t.match(result, { state: 'unreachable', reason: /EHOSTUNREACH.*REACHGATE_RAW_SOCKET=off/ });
    t.notOk(result.icmp);
  });

  t.test('an unprivileged user gets unreachable and is told how to grant CAP_NET_RAW', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.prohibited}`], { user: 'nobody' });
    t.match(result, { state: 'unreachable', reason: /CAP_NET_RAW/ });
    t.notOk(result.icmp);
  });
}
