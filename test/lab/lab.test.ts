import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import t from 'tap';
import { LAB, Lab, needsLab } from './lab.js';
import { filteredLab } from './filtered-lab.js';

interface Connection {
  host: string;
  port: number;
  /** Written once connected. */
  send?: string;
  /** Stop reading once the received text contains this. */
  until?: string;
  tls?: { ca: string; servername: string };
  timeoutMs?: number;
}

interface Outcome {
  data?: string;
  error?: string;
  subjectaltname?: string;
}

// Runs inside a namespace: connects, optionally sends, prints one JSON line with what came back.
const CONNECT = `
const net = require('node:net'), tls = require('node:tls')
const o = JSON.parse(process.argv[1])
const done = (r) => { console.log(JSON.stringify(r)); process.exit(0) }
const s = o.tls
  ? tls.connect({ host: o.host, port: o.port, ca: o.tls.ca, servername: o.tls.servername })
  : net.connect(o.port, o.host)
let data = ''
s.setEncoding('utf8')
s.on(o.tls ? 'secureConnect' : 'connect', () => { if (o.send) s.write(o.send) })
s.on('data', (d) => {
  data += d
  if (!data.includes(o.until ?? '')) return
  done({ data, subjectaltname: o.tls ? s.getPeerCertificate().subjectaltname : undefined })
})
s.on('error', (e) => done({ error: e.code }))
setTimeout(() => done({ error: 'timeout' }), o.timeoutMs ?? 3000)
`;

// Runs inside a namespace: resolves each [rrtype, name] and prints the sorted answers or the error code.
const RESOLVE = `
const { Resolver } = require('node:dns').promises
const [server, queries] = JSON.parse(process.argv[1])
const resolver = new Resolver({ timeout: 2000, tries: 1 })
resolver.setServers([server])
Promise.all(queries.map(([rrtype, name]) => resolver.resolve(name, rrtype).then((a) => a.sort(), (e) => e.code)))
  .then((answers) => console.log(JSON.stringify(answers)))
`;

async function node(lab: Lab, ns: string, script: string, arg: unknown): Promise<unknown> {
  const { code, stdout, stderr } = await lab.exec(ns, process.execPath, ['-e', script, JSON.stringify(arg)]);
  if (code !== 0) throw new Error(`node in ${ns} failed (${code}): ${stderr}`);
  return JSON.parse(stdout);
}

function connect(lab: Lab, ns: string, connection: Connection): Promise<Outcome> {
  return node(lab, ns, CONNECT, connection) as Promise<Outcome>;
}

/** PIDs of every process in namespace `ns`, asked from outside it. */
function pidsIn(ns: string): number[] {
  const { stdout } = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 });
  return stdout.split('\n').filter(Boolean).map(Number);
}

/** Names of all network namespaces. */
function listNamespaces(): string[] {
  const { stdout } = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5000 });
  return stdout.split('\n').map((line) => line.split(' ')[0] ?? '');
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let shared: Promise<Lab> | undefined;
/**
 * The lab of the tests that add to it only what no other test trips on (listeners on ports of their own, nft tables
 * of their own, a DNS server): one lab for them all, built once and torn down at the end of the file. The tests of a
 * filtered lab, of destroy and of a failed create build their own.
 */
const sharedLab = (): Promise<Lab> => (shared ??= Lab.create(t));

t.test('the client reaches a listener on the server through the router', async (t) => {
  if (needsLab(t)) return;
  const lab = await sharedLab();
  await lab.listen(lab.ns.server, { address: LAB.server.v4, ports: [2222], banner: 'SSH-2.0-lab\r\n' });
  await lab.listen(lab.ns.server, { address: LAB.server.v6, ports: [2222], banner: 'SSH-2.0-lab6\r\n' });

  t.same(await connect(lab, lab.ns.client, { host: LAB.server.v4, port: 2222, until: '\n' }), {
    data: 'SSH-2.0-lab\r\n',
  });
  t.same(await connect(lab, lab.ns.client, { host: LAB.server.v6, port: 2222, until: '\n' }), {
    data: 'SSH-2.0-lab6\r\n',
  });
});

t.test('an echo listener sends its banner, then what it receives', async (t) => {
  if (needsLab(t)) return;
  const lab = await sharedLab();
  await lab.listen(lab.ns.server, { address: LAB.server.v4, ports: [7], banner: 'hi\n', echo: true });

  const outcome = await connect(lab, lab.ns.client, { host: LAB.server.v4, port: 7, send: 'ping\n', until: 'ping\n' });
  t.same(outcome, { data: 'hi\nping\n' });
});

t.test('a TLS listener sends its banner inside TLS with the lab certificate', async (t) => {
  if (needsLab(t)) return;
  const lab = await sharedLab();
  const certificate = await lab.certificate({ cn: 'tightgate.test', sans: ['tightgate.test', LAB.server.v4] });
  t.match(certificate.cert, /^-----BEGIN CERTIFICATE-----/);
  t.match(certificate.key, /^-----BEGIN PRIVATE KEY-----/);
  await lab.listen(lab.ns.server, {
    address: LAB.server.v4,
    ports: [5443],
    banner: 'hello over tls\n',
    tls: { cert: certificate.certFile, key: certificate.keyFile },
  });

  const outcome = await connect(lab, lab.ns.client, {
    host: LAB.server.v4,
    port: 5443,
    until: '\n',
    tls: { ca: certificate.cert, servername: 'tightgate.test' },
  });
  t.same(outcome, {
    data: 'hello over tls\n',
    subjectaltname: `DNS:tightgate.test, IP Address:${LAB.server.v4}`,
  });
});

t.test('the router answers net unreachable for 203.0.113.0/24', async (t) => {
  if (needsLab(t)) return;
  const lab = await sharedLab();
  // Counts ICMP net-unreachable from the router arriving at the client.
  await lab.nft(
    lab.ns.client,
    `table ip lab {
      counter netunreach {}
      chain input {
        type filter hook input priority 0; policy accept;
        ip saddr ${LAB.router.clientV4} icmp type destination-unreachable icmp code net-unreachable \\
          counter name netunreach
      }
    }`,
  );

  t.same(await connect(lab, lab.ns.client, { host: LAB.unroutedV4, port: 80 }), { error: 'ENETUNREACH' });
  const counter = await lab.exec(lab.ns.client, 'nft', ['list', 'counter', 'ip', 'lab', 'netunreach']);
  t.match(counter.stdout, /packets [1-9]/, 'the ICMP error came from the router');
});

t.test('an nft drop rule in the router silences a port', async (t) => {
  if (needsLab(t)) return;
  const lab = await sharedLab();
  await lab.listen(lab.ns.server, { address: LAB.server.v4, ports: [8001, 8002], banner: 'up\n' });
  await lab.nft(
    lab.ns.router,
    `table inet lab {
      chain forward {
        type filter hook forward priority 0; policy accept;
        tcp dport 8002 drop
      }
    }`,
  );

  t.same(await connect(lab, lab.ns.client, { host: LAB.server.v4, port: 8001, until: '\n' }), { data: 'up\n' });
  t.same(await connect(lab, lab.ns.client, { host: LAB.server.v4, port: 8002, timeoutMs: 1000 }), {
    error: 'timeout',
  });
});

t.test('a filtered lab drops, rejects and passes each port as its rules say', async (t) => {
  if (needsLab(t)) return;
  const { lab, dir } = await filteredLab(t, 'lab', { protocols: ['tcp'], drop: [8002], prohibited: [8003] });
  t.ok(existsSync(dir), 'a temp dir for daemon files');
  await lab.listen(lab.ns.server, { address: LAB.server.v4, ports: [8001, 8002, 8003], banner: 'up\n' });
  const to = (port: number): Promise<Outcome> =>
    connect(lab, lab.ns.client, { host: LAB.server.v4, port, until: '\n', timeoutMs: 1000 });
  t.same(await to(8001), { data: 'up\n' });
  t.same(await to(8002), { error: 'timeout' });
  t.same(await to(8003), { error: 'EHOSTUNREACH' });
});

t.test("nft rejects a bad ruleset with nft's own message", async (t) => {
  if (needsLab(t)) return;
  const lab = await sharedLab();
  await t.rejects(lab.nft(lab.ns.router, 'table inet lab { chain forward { no such thing } }'), {
    message: /Error: syntax error/,
  });
});

t.test('exec kills a command that outlives its timeout', async (t) => {
  if (needsLab(t)) return;
  const lab = await sharedLab();
  const started = Date.now();
  const result = await lab.exec(lab.ns.client, 'sleep', ['30'], { timeoutMs: 300 });
  t.equal(result.code, null);
  t.match(result.stderr, /killed after 300 ms/);
  t.ok(Date.now() - started < 5000, 'it returned soon after the timeout');
});

t.test('dns answers the records it was given and NXDOMAIN for other .test names', async (t) => {
  if (needsLab(t)) return;
  const lab = await sharedLab();
  await lab.dns(lab.ns.server, LAB.server.v4, {
    'tightgate.test': [LAB.server.v4, LAB.server.v6],
    'ntp.test': ['192.0.2.124', '192.0.2.123'],
  });

  const answers = await node(lab, lab.ns.client, RESOLVE, [
    LAB.server.v4,
    [
      ['A', 'tightgate.test'],
      ['AAAA', 'tightgate.test'],
      ['A', 'ntp.test'],
      ['AAAA', 'ntp.test'],
      ['A', 'missing.test'],
      ['A', 'www.tightgate.test'],
    ],
  ]);
  // c-ares reports NXDOMAIN as ENOTFOUND and an empty answer for an existing name as ENODATA.
  t.same(answers, [
    [LAB.server.v4],
    [LAB.server.v6],
    ['192.0.2.123', '192.0.2.124'],
    'ENODATA',
    'ENOTFOUND',
    'ENOTFOUND',
  ]);
});

t.test('destroy removes every namespace and process it made', async (t) => {
  if (needsLab(t)) return;
  const lab = await Lab.create(t);
  const certificate = await lab.certificate({ cn: 'lab.test', sans: ['lab.test'] });
  await lab.listen(lab.ns.server, { address: LAB.server.v4, ports: [22] });
  await lab.dns(lab.ns.router, LAB.router.clientV4, { 'a.test': [LAB.server.v4] });
  const sleeper = await lab.spawn(lab.ns.client, 'sleep', ['60']);
  // `ip netns exec` enters the namespace just after it is spawned: give it up to 2 s to get there.
  let pids = Object.values(lab.ns).flatMap(pidsIn);
  for (let tries = 0; tries < 40 && !pids.includes(sleeper.pid ?? -1); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    pids = Object.values(lab.ns).flatMap(pidsIn);
  }
  t.equal(pids.length, 3, 'listener, dnsmasq and sleep run in the namespaces');
  t.ok(sleeper.pid !== undefined && pids.includes(sleeper.pid), 'spawn returns the process itself, not a wrapper');

  await lab.destroy();

  const listed = listNamespaces();
  for (const ns of Object.values(lab.ns)) t.notOk(listed.includes(ns), `${ns} is gone`);
  t.same(pids.filter(isRunning), [], 'every process is gone');
  t.notOk(existsSync(dirname(certificate.certFile)), 'the certificate directory is gone');
  await t.resolves(lab.destroy(), 'destroying again is harmless');
  await t.rejects(lab.exec(lab.ns.client, 'true', []), { message: /destroyed/ });
});

t.test('create removes what it built when it fails halfway', async (t) => {
  if (needsLab(t)) return;
  const first = await Lab.create(t);
  // Lab names count up: taking the next lab's router name makes the next create fail after its client.
  const next = first.ns.router.replace(/x(\d+)r$/, (_, n: string) => `x${Number(n) + 1}`);
  spawnSync('ip', ['netns', 'add', `${next}r`], { timeout: 5000 });
  t.teardown(() => {
    spawnSync('ip', ['netns', 'del', `${next}r`], { timeout: 5000 });
  });

  await t.rejects(Lab.create(t), { message: /ip netns add/ });
  t.notOk(listNamespaces().includes(`${next}c`), 'the client namespace it made is gone');
});
