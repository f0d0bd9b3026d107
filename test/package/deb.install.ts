import { PACKAGE_ROOT } from '../../src/core/package-root.js';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
} from 'node:fs';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { finished, type Finished } from '../../src/lab/finished.js';
import type { RunReport } from '../../src/core/result.js';
import type { DoctorReport } from '../../src/doctor/doctor.js';

// `npm run test:package`. Named .install.ts, not .test.ts, so that `npm test` leaves it out: it takes minutes (the
// suite must stay under four); .ci/run runs it after the suite.
// The path of a field technician with a bare Debian 12 host: build the package, install it with dpkg into a fresh
// minimal Debian 12 root (mmdebstrap --variant=minbase from this machine's Debian apt sources: no node, npm or
// compiler), use it there, remove it, purge it. The root shares this host's network namespace, so its loopback is
// ours: the probe's listener runs here, the coordinator inside the root (the package's own, on its SQLite file).
// The root's tarball is made once and cached in node_modules/.cache/reachgate-package/; each run unpacks a fresh copy.

const ROOT = PACKAGE_ROOT;
const CACHE = join(ROOT, 'node_modules', '.cache', 'reachgate-package');
const BASE_TARBALL = join(CACHE, 'bookworm-minbase.tar');
const { version: VERSION } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

if (process.getuid?.() !== 0) {
  t.comment('skipped: the package test needs root (mmdebstrap, chroot, dpkg inside the root); CI runs it as root');
  t.plan(0, 'needs root for mmdebstrap, chroot and dpkg');
  process.exit(0);
}
t.setTimeout(40 * 60_000);

/** Run a command to its end, bounded in time; its own process group, so a timeout ends what it started too. */
function run(command: string, args: string[], options: { timeoutMs?: number } = {}): Promise<Finished> {
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  // Through env(1): tap wraps the node processes it sees spawned with its own loader.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', command, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  return finished(child, { timeoutMs: options.timeoutMs ?? 120_000, group: true });
}

/** The environment inside the root: nothing of ours (no NODE_OPTIONS, no NODE_EXTRA_CA_CERTS), as a login would have. */
function rootEnv(user: 'root' | 'reachgate'): string[] {
  const home = user === 'root' ? '/root' : '/var/lib/reachgate';
  return [
    'env',
    '-i',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `HOME=${home}`,
    'LANG=C.UTF-8',
  ];
}

/** Argument list for `chroot` running ARGS inside the root as root or as the package's reachgate user. */
function chrootArgs(root: string, args: string[], user: 'root' | 'reachgate'): string[] {
  const userspec = user === 'root' ? [] : ['--userspec=reachgate:reachgate'];
  return [...userspec, root, ...rootEnv(user), ...args];
}

/** The Debian apt sources of this machine (deb822 or one-line files naming a debian.org archive). */
function debianSources(): string[] {
  const dir = '/etc/apt/sources.list.d';
  const files = [
    '/etc/apt/sources.list',
    ...(existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : []),
  ].filter((file) => /\.(list|sources)$/.test(file) && existsSync(file));
  return files.filter((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .some((line) => !line.trimStart().startsWith('#') && /debian\.org\/debian/.test(line)),
  );
}

/** The cached minimal Debian 12 root as a tarball, made with mmdebstrap when it is not cached yet. */
async function baseTarball(): Promise<string> {
  if (existsSync(BASE_TARBALL)) return BASE_TARBALL;
  mkdirSync(CACHE, { recursive: true });
  const sources = debianSources();
  if (sources.length === 0) throw new Error('no Debian apt sources (deb.debian.org or a mirror) on this machine');
  const partial = `${BASE_TARBALL}.${process.pid}.partial`;
  const made = await run(
    'mmdebstrap',
    ['--variant=minbase', '--mode=root', '--format=tar', 'bookworm', partial, ...sources],
    { timeoutMs: 20 * 60_000 },
  );
  if (made.code !== 0) throw new Error(`mmdebstrap failed (${made.code}): ${made.stderr.slice(-3000)}`);
  renameSync(partial, BASE_TARBALL);
  return BASE_TARBALL;
}

t.test('the Debian package installs, runs and purges on a bare Debian 12 root', async (t) => {
  const packaged = await run('npm', ['run', 'package'], { timeoutMs: 25 * 60_000 });
  t.equal(packaged.code, 0, 'npm run package builds', { stderr: packaged.stderr.slice(-3000) });
  const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim();
  const deb = join(ROOT, 'out', `reachgate_${VERSION}_${arch}.deb`);
  const tgz = join(ROOT, 'out', `reachgate_${VERSION}_${arch}.tar.gz`);
  t.ok(existsSync(deb) && existsSync(tgz), 'the .deb and the .tar.gz are built');

  const listed = (text: string): string[] =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => line.replace(/\/$/, ''))
      .sort();
  const debFiles = listed((await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -t', 'sh', deb])).stdout);
  const tarFiles = listed((await run('tar', ['-tzf', tgz])).stdout);
  t.same(tarFiles, debFiles, 'the tarball holds the same tree as the package');

  const root = mkdtempSync(join(tmpdir(), 'reachgate-debroot-'));
  let procMounted = false;
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (procMounted) await run('umount', [join(root, 'proc')]);
    // --one-file-system: should /proc still be mounted, rm does not walk into it.
    await run('rm', ['-rf', '--one-file-system', root]);
  });
  const unpacked = await run('tar', ['-xf', await baseTarball(), '-C', root], { timeoutMs: 5 * 60_000 });
  t.equal(unpacked.code, 0, 'the cached root unpacks', { stderr: unpacked.stderr });
  t.equal((await run('mount', ['-t', 'proc', 'proc', join(root, 'proc')])).code, 0, '/proc is mounted in the root');
  procMounted = true;

  const inRoot = (args: string[], user: 'root' | 'reachgate' = 'root', timeoutMs = 120_000): Promise<Finished> =>
    run('chroot', chrootArgs(root, args, user), { timeoutMs });

  const bare = await inRoot(['sh', '-c', 'for c in node nodejs npm cc gcc g++ make python3; do command -v $c; done']);
  t.equal(bare.stdout, '', 'the root has no node, npm, compiler or python');

  copyFileSync(deb, join(root, 'tmp', 'reachgate.deb'));
  const started = Date.now();
  const installed = await inRoot(['dpkg', '-i', '/tmp/reachgate.deb'], 'root', 10 * 60_000);
  t.comment(`dpkg -i took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.equal(installed.code, 0, 'dpkg -i installs the package', { output: installed.stdout + installed.stderr });

  const version = await inRoot(['reachgate', '--version']);
  t.same([version.code, version.stdout], [0, `${VERSION}\n`], '/usr/bin/reachgate prints the version');
  t.equal(
    readFileSync(join(root, 'usr/bin/reachgate'), 'utf8').includes('/usr/lib/reachgate/node/bin/node'),
    true,
    'the launcher runs the carried node',
  );

  const user = await inRoot(['getent', 'passwd', 'reachgate']);
  t.match(user.stdout, /^reachgate:x:\d+:\d+:[^:]*:\/var\/lib\/reachgate:\/usr\/sbin\/nologin$/m, 'system user');
  const spool = statSync(join(root, 'var/spool/reachgate'));
  t.equal(spool.mode & 0o777, 0o700, 'the spool is 0700');
  t.equal(spool.uid, Number(user.stdout.split(':')[2]), 'the spool belongs to reachgate');
  const units = readdirSync(join(root, 'lib/systemd/system')).filter((name) => name.startsWith('reachgate'));
  t.same(
    units.sort(),
    [
      'reachgate-agent-once.service',
      'reachgate-agent-once.service.d',
      'reachgate-agent.service',
      'reachgate-agent.service.d',
      'reachgate-agent.timer',
      'reachgate-coordinator.service',
    ],
    'the systemd units',
  );
  const agentUnit = readFileSync(join(root, 'lib/systemd/system/reachgate-agent.service'), 'utf8');
  t.match(agentUnit, /^ExecStart=\/usr\/bin\/reachgate agent /m, 'the agent unit starts the installed command');
  t.match(agentUnit, /^AmbientCapabilities=CAP_NET_RAW$/m);
  t.match(agentUnit, /^CapabilityBoundingSet=CAP_NET_RAW$/m, 'the agent keeps CAP_NET_RAW only');
  const conffiles = await inRoot(['dpkg-query', '--showformat=${Conffiles}', '--show', 'reachgate']);
  t.match(conffiles.stdout, /\/etc\/reachgate\/agent\.example\.yaml [0-9a-f]{32}/, 'the example configs are conffiles');

  // A probe from inside the root to a listener here, on the loopback both share.
  const listener = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  t.teardown(() => listener.close());
  const port = (listener.address() as AddressInfo).port;
  const probe = await inRoot(['reachgate', 'probe', 'tcp', `127.0.0.1:${port}`, '--json']);
  t.equal(probe.code, 0, 'reachgate probe tcp passes', { stderr: probe.stderr });
  t.match(JSON.parse(probe.stdout) as RunReport, { results: [{ state: 'open', verdict: 'pass' }] });
  // A sweep runs on the native engine the package carries (native/build/Release/reachgate_sweep.node): the listener
  // is bound to 127.0.0.1 only, so the same port of 127.0.0.2 answers with a reset.
  const sweep = await inRoot(['reachgate', 'probe', 'tcp', `127.0.0.1:${port}`, `127.0.0.2:${port}`, '--json']);
  t.match(JSON.parse(sweep.stdout) as RunReport, {
    results: [
      { state: 'open', evidence: { engine: 'native' } },
      { state: 'closed', evidence: { engine: 'native' } },
    ],
  });

  // doctor as root: the raw ICMP socket check loads raw-socket, the native module the package carries.
  const doctor = await inRoot(['reachgate', 'doctor', '--json']);
  const findings = (JSON.parse(doctor.stdout) as DoctorReport).findings;
  t.match(
    findings.find((finding) => finding.check === 'raw-socket'),
    { status: 'ok' },
    'raw-socket loads',
  );
  t.same(
    findings.filter((finding) => finding.status === 'fail'),
    [],
    'doctor finds nothing failed',
  );

  // The package's coordinator (fastify, better-sqlite3) and agent, both as the reachgate user inside the root.
  const db = '/var/lib/reachgate/coordinator.db';
  const agentToken = await inRoot(
    ['reachgate', 'token', 'create', '--agent', 'deb-ws', '--role', 'workstation', '--db', db],
    'reachgate',
  );
  t.equal(agentToken.code, 0, 'token create opens the SQLite database', { stderr: agentToken.stderr });
  const viewerToken = await inRoot(['reachgate', 'token', 'create', '--viewer', '--db', db], 'reachgate');
  const coordinator = spawn(
    'chroot',
    chrootArgs(root, ['reachgate', 'coordinator', '--db', db, '--listen', '127.0.0.1:0'], 'reachgate'),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(coordinator);
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`the coordinator did not listen in 60 s: ${stderr}`)), 60_000);
    coordinator.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const listening = /coordinator listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (listening) {
        clearTimeout(timer);
        resolve(listening[1]!);
      }
    });
    coordinator.once('exit', (code) => reject(new Error(`the coordinator exited (${code}): ${stderr}`)));
  });

  const etc = join(root, 'etc', 'reachgate');
  writeFileSync(
    join(etc, 'site.yaml'),
    [
      'site: deb-lab',
      'hosts:',
      '  tightgate: [127.0.0.1]',
      '  internet-canaries: [127.0.0.2]',
      'settings:',
      '  timeout: 500ms',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(etc, 'workstation.yaml'),
    'profile: test/deb-workstation\nrole: workstation\nprobes:\n' +
      `  - row: viewer\n    kind: tcp\n    target: tightgate\n    ports: ${port}\n`,
  );
  writeFileSync(join(etc, 'agent.token'), agentToken.stdout, { mode: 0o600 });
  writeFileSync(
    join(etc, 'agent.yaml'),
    [
      'name: deb-ws',
      'role: workstation',
      'profile: workstation.yaml',
      'site: site.yaml',
      `coordinator: ${url}`,
      'token-file: /etc/reachgate/agent.token',
      'interval: 5m',
      'spool: /var/spool/reachgate',
      'delivery-timeout: 10s',
      '',
    ].join('\n'),
  );
  t.equal((await inRoot(['chown', 'reachgate:reachgate', '/etc/reachgate/agent.token'])).code, 0);
  const agent = await inRoot(['reachgate', 'agent', '--config', '/etc/reachgate/agent.yaml', '--once'], 'reachgate');
  t.equal(agent.code, 0, 'agent --once delivered its report', { stderr: agent.stderr });
  t.same(readdirSync(join(root, 'var/spool/reachgate')), [], 'the spool is empty after the acknowledgement');
  const matrix = await fetch(`${url}/api/v1/matrix`, {
    headers: { authorization: `Bearer ${viewerToken.stdout.trim()}` },
    signal: AbortSignal.timeout(20_000),
  });
  t.match(await matrix.json(), { agents: [{ name: 'deb-ws' }] }, "the coordinator's matrix shows the agent");
  coordinator.kill('SIGTERM');
  await new Promise((resolve) => (coordinator.exitCode === null ? coordinator.once('exit', resolve) : resolve(null)));

  // Remove keeps configs, spool and database; purge removes them.
  writeFileSync(join(root, 'var/spool/reachgate/kept'), 'a report waiting\n');
  const removed = await inRoot(['dpkg', '--remove', 'reachgate'], 'root', 5 * 60_000);
  t.equal(removed.code, 0, 'dpkg --remove', { stderr: removed.stderr });
  t.notOk(existsSync(join(root, 'usr/bin/reachgate')), 'the command is gone');
  t.notOk(existsSync(join(root, 'usr/lib/reachgate')), 'the runtime and modules are gone');
  for (const kept of ['etc/reachgate/agent.example.yaml', 'etc/reachgate/agent.yaml', 'var/spool/reachgate/kept']) {
    t.ok(existsSync(join(root, kept)), `remove keeps ${kept}`);
  }
  t.ok(existsSync(join(root, 'var/lib/reachgate/coordinator.db')), "remove keeps the coordinator's database");
  const purged = await inRoot(['dpkg', '--purge', 'reachgate'], 'root', 5 * 60_000);
  t.equal(purged.code, 0, 'dpkg --purge', { stderr: purged.stderr });
  for (const gone of [
    'etc/reachgate',
    'var/spool/reachgate',
    'var/lib/reachgate',
    'lib/systemd/system/reachgate-agent.service',
  ]) {
    t.notOk(existsSync(join(root, gone)), `purge removes ${gone}`);
  }
  const status = await inRoot(['dpkg-query', '--show', 'reachgate']);
  t.not(status.code, 0, 'dpkg knows the package no more');
  const leftover = await inRoot(['sh', '-c', 'find / -xdev -name "*reachgate*" -not -path "/tmp/*" 2>/dev/null']);
  t.same(leftover.stdout.split('\n').filter(Boolean), [], 'nothing named reachgate is left on the root');
});
