import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { RunReport } from '../../src/core/result.js';
import type { DoctorReport } from '../../src/doctor/doctor.js';

// The path a user takes: `npm pack`, then `npm install -g` of the tarball into a temporary prefix, then the
// installed `reachgate`. Twice at once: a normal install, and one where raw-socket's native build fails (a C++
// compiler that refuses raw-socket), which npm must survive by leaving the optional module out. Each install
// compiles better-sqlite3 from source (about a minute of CPU), so the file gets a long timeout.
const INSTALL_TIMEOUT_MS = 6 * 60_000;
t.setTimeout(INSTALL_TIMEOUT_MS + 2 * 60_000);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command as a user's shell would, bounded in time. */
function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  return new Promise((resolve, reject) => {
    // Through env(1): tap wraps the node processes it sees spawned (npm and reachgate are node scripts) with its loader.
    const child = spawn('env', ['-u', 'NODE_OPTIONS', command, ...args], { cwd: options.cwd ?? ROOT, env: { ...env, NO_COLOR: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A RunReport printed by an installed `reachgate probe ... --json`. */
function reportOf(result: Run): RunReport {
  try {
    return JSON.parse(result.stdout) as RunReport;
  } catch {
    throw new Error(`no JSON report (exit ${result.code}): ${result.stderr}`);
  }
}

const root = process.getuid?.() === 0;

t.test('the packed tarball installs with npm install -g and gives a working reachgate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The tests run beside this one on the same dist/: pack what is built, without a build script rewriting it.
  const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { timeoutMs: 120_000 });
  t.equal(pack.code, 0, pack.stderr);
  const tarball = join(dir, pack.stdout.trim().split('\n').pop()!);
  t.ok(existsSync(tarball), `npm pack wrote ${tarball}`);

  // raw-socket's build fails on a host without a C++ compiler; this compiler refuses raw-socket alone.
  const compiler = join(dir, 'c++-without-raw-socket');
  writeFileSync(compiler, '#!/bin/sh\ncase "$(pwd -P)" in */node_modules/raw-socket/*) echo "no C++ compiler here" >&2; exit 1 ;; esac\nexec g++ "$@"\n');
  chmodSync(compiler, 0o755);
  const install = (prefix: string, env: NodeJS.ProcessEnv = {}): Promise<Run> => run('npm', [
    'install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline',
    // npm 11 asks for install scripts to be allowed by name on global installs (and will refuse unlisted ones).
    '--allow-scripts=better-sqlite3,raw-socket',
    tarball,
  // Build better-sqlite3 from source rather than let prebuild-install reach for a download host.
  ], { cwd: dir, timeoutMs: INSTALL_TIMEOUT_MS, env: { npm_config_build_from_source: 'true', ...env } });
  const full = join(dir, 'full');
  const degraded = join(dir, 'no-raw-socket');
  const [fullInstall, degradedInstall] = await Promise.all([install(full), install(degraded, { CXX: compiler })]);

  const listener = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  const port = (listener.address() as AddressInfo).port;

  t.test('a normal install runs --version, a TCP probe and, as root, an ICMP echo', async (t) => {
    t.equal(fullInstall.code, 0, fullInstall.stderr);
    const bin = join(full, 'bin/reachgate');
    const version = await run(bin, ['--version']);
    t.equal(version.stdout, `${VERSION}\n`, version.stderr);
    const probe = await run(bin, ['probe', 'tcp', `127.0.0.1:${port}`, '--json']);
    t.equal(probe.code, 0, probe.stderr);
    t.match(reportOf(probe).results, [{ state: 'open', verdict: 'pass', target: { address: '127.0.0.1', port } }]);
    t.ok(existsSync(join(full, 'lib/node_modules/reachgate/node_modules/raw-socket/build/Release/raw.node')), 'raw-socket was built');
    if (root) {
      const echo = await run(bin, ['probe', 'icmp', '127.0.0.1', '--json']);
      t.match(reportOf(echo).results, [{ state: 'open', verdict: 'pass' }], echo.stderr);
    }
  });

  t.test('when raw-socket cannot be built the install still succeeds, TCP probes work and ICMP says why it is off', async (t) => {
    t.equal(degradedInstall.code, 0, degradedInstall.stderr);
    const installed = join(degraded, 'lib/node_modules/reachgate');
    t.notOk(existsSync(join(installed, 'node_modules/raw-socket')), 'npm left the optional module out');
    const bin = join(degraded, 'bin/reachgate');
    t.equal((await run(bin, ['--version'])).stdout, `${VERSION}\n`);
    const probe = await run(bin, ['probe', 'tcp', `127.0.0.1:${port}`, '--json']);
    t.equal(probe.code, 0, probe.stderr);
    t.match(reportOf(probe).results, [{ state: 'open', verdict: 'pass' }]);
    const echo = await run(bin, ['probe', 'icmp', '127.0.0.1', '--json']);
    t.match(reportOf(echo).results, [{ state: 'error', verdict: 'error', reason: /raw-socket module is not installed/ }]);

    const doctor = await run(bin, ['doctor', '--json']);
    const raw = (JSON.parse(doctor.stdout) as DoctorReport).findings.find((finding) => finding.check === 'raw-socket');
    t.match(raw, { status: 'warn', message: /raw-socket module is not installed/, evidence: { module: 'missing' } });
    t.match(raw?.fix, new RegExp(`then: npm install --prefix ${installed.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} --no-save --omit=dev raw-socket@\\S+$`));

    // doctor's fix line, taken literally, brings the ICMP features back once a compiler is there.
    const fix = raw!.fix!.replace(/^.*then: /, '').split(' ');
    const repaired = await run(fix[0]!, [...fix.slice(1), '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, timeoutMs: INSTALL_TIMEOUT_MS });
    t.equal(repaired.code, 0, repaired.stderr);
    if (root) {
      const again = await run(bin, ['probe', 'icmp', '127.0.0.1', '--json']);
      t.match(reportOf(again).results, [{ state: 'open', verdict: 'pass' }], again.stderr);
    }
  });
});
