import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { finished } from '../../src/lab/finished.js';
import type { RunReport } from '../../src/core/result.js';
import type { DoctorReport } from '../../src/doctor/doctor.js';
import { printedJson, type CliRun } from '../helpers/cli.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

// The path a user takes: `npm pack`, then `npm install -g` of the tarball into a temporary prefix, then the
// installed `reachgate`. Twice: a normal install, which builds raw-socket, and one on a host without the build tools
// node-gyp needs, where raw-socket's native build fails, which npm must survive by leaving the optional module out.
// better-sqlite3 arrives as a prebuilt addon, the way most users get it, from a local folder instead of its download
// site: for the first install the checkout's own build, for the second the first install's. Should the resolved
// better-sqlite3 differ from the checkout's, the first install compiles it from source (minutes of CPU on a loaded
// machine, hence the long timeout), and still only once.
const INSTALL_TIMEOUT_MS = 6 * 60_000;
t.setTimeout(INSTALL_TIMEOUT_MS + 2 * 60_000);

const ROOT = PACKAGE_ROOT;
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Run a command as a user's shell would, bounded in time. */
function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<CliRun> {
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  // Through env(1): tap wraps the node processes it sees spawned (npm and reachgate are node scripts) with its loader.
  // Its own process group: a timeout ends npm and the compilers it started, not npm alone.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', command, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  return finished(child, { timeoutMs: options.timeoutMs ?? 60_000, group: true });
}

const SQLITE = 'node_modules/better-sqlite3';
const INSTALLED = 'lib/node_modules/reachgate';
const ADDON = 'build/Release/better_sqlite3.node';

/**
 * Pack the addon of an installed better-sqlite3 into `into` as prebuild-install's file for this Node and platform,
 * and return the environment that has an install take it from there.
 */
async function prebuiltFrom(module: string, into: string): Promise<NodeJS.ProcessEnv> {
  const { version } = JSON.parse(readFileSync(join(module, 'package.json'), 'utf8')) as { version: string };
  mkdirSync(into);
  const { modules } = process.versions;
  const name = `better-sqlite3-v${version}-node-v${modules}-${process.platform}-${process.arch}.tar.gz`;
  const tar = await run('tar', ['-czf', join(into, name), '-C', module, ADDON]);
  if (tar.code !== 0) throw new Error(`tar failed: ${tar.stderr}`);
  return {
    npm_config_better_sqlite3_local_prebuilds: into,
    // No prebuilt addon for the resolved version: the download fails on loopback (nothing listens on port 1) and
    // better-sqlite3 compiles from source, rather than reach for its download site.
    npm_config_better_sqlite3_binary_host: 'http://127.0.0.1:1',
  };
}

const root = process.getuid?.() === 0;

/** Write an executable shell script. */
function script(path: string, body: string): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/**
 * A compiler cache for the installs of one test, in `dir`: CXX and CC run g++ and gcc, except that a compile
 * (`-c`) whose arguments and preprocessed source, with the package's directory taken out, match an earlier
 * compile's reuses that compile's object and dependency file. The installs build the same sources under different
 * prefixes; what they build is still the compiler's work on the same input, only not twice. compiled() lists the
 * sources compiled and those reused.
 */
function compileCache(dir: string): {
  env: { CXX: string; CC: string };
  compiled: () => { compiled: string[]; reused: string[] };
} {
  const store = join(dir, 'compile-cache');
  mkdirSync(store);
  const wrapper = (compiler: string): string =>
    script(
      join(dir, `cached-${compiler}`),
      [
        'case " $* " in *" -c "*) ;; *) exec ' + compiler + ' "$@" ;; esac',
        // The package's directory: make runs the compiles from its build/ directory.
        'pkg=$(dirname "$(pwd -P)")',
        'out= dep= src= prev=',
        'for arg do',
        '  case $prev in -o) out=$arg ;; -MF) dep=$arg ;; esac; case $arg in *.c|*.cc) src=$arg ;; esac; prev=$arg',
        'done',
        // Only a compile to a named object file is kept.
        `[ -n "$out" ] || exec ${compiler} "$@"`,
        // The arguments without output, dependency file and -c, then the preprocessed source they give.
        'key() {',
        '  skip=',
        '  for arg do shift; [ -n "$skip" ] && { skip=; continue; }',
        '    case $arg in -o|-MF) skip=1 ;; -c|-MMD) ;; *) set -- "$@" "$arg" ;; esac; done',
        `  { printf '%s\\n' ${compiler} "$@"; ${compiler} "$@" -E -P; } | sed "s|$pkg|@PKG@|g" | sha256sum | cut -c1-64`,
        '}',
        `entry=${store}/$(key "$@") || exec ${compiler} "$@"`,
        'if [ -f "$entry.o" ]; then',
        '  cp "$entry.o" "$out" || exit 1',
        '  [ -z "$dep" ] || sed "s|@PKG@|$pkg|g" "$entry.d" > "$dep" || exit 1',
        `  echo "reused $(basename "$src")" >> ${store}/log; exit 0`,
        'fi',
        `${compiler} "$@" || exit`,
        '{ [ -z "$dep" ] || sed "s|$pkg|@PKG@|g" "$dep" > "$entry.d"; } &&',
        '  cp "$out" "$entry.o.new" && mv "$entry.o.new" "$entry.o"',
        `echo "compiled $(basename "$src")" >> ${store}/log`,
      ].join('\n'),
    );
  return {
    env: { CXX: wrapper('g++'), CC: wrapper('gcc') },
    compiled: () => {
      const log = existsSync(join(store, 'log')) ? readFileSync(join(store, 'log'), 'utf8').trim().split('\n') : [];
      const sources = (what: string): string[] =>
        log
          .filter((line) => line.startsWith(`${what} `))
          .map((line) => line.slice(what.length + 1))
          .sort();
      return { compiled: sources('compiled'), reused: sources('reused') };
    },
  };
}

t.test('the packed tarball installs with npm install -g and gives a working reachgate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The tests run beside this one on the same dist/: pack what is built, without a build script rewriting it.
  const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { timeoutMs: 120_000 });
  t.equal(pack.code, 0, pack.stderr);
  const tarball = join(dir, pack.stdout.trim().split('\n').pop()!);
  t.ok(existsSync(tarball), `npm pack wrote ${tarball}`);

  // Every compile goes through a cache (compileCache), so raw-socket, built by the first install and again by
  // doctor's repair line, is compiled once.
  const cache = compileCache(dir);
  // A host without the build tools node-gyp needs: no Python to run gyp (node-gyp takes the one NODE_GYP_FORCE_PYTHON
  // names, and there is none), so raw-socket's build and reachgate's own addon's (native/sweep.c, native/icmp.c) fail at their
  // start, as they do without a C compiler, only without generating the makefiles first (~2 s of CPU each).
  const noBuildTools = { NODE_GYP_FORCE_PYTHON: join(dir, 'no-python-here') };
  const install = (prefix: string, env: NodeJS.ProcessEnv): Promise<CliRun> =>
    run(
      'npm',
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        // npm 11 asks for install scripts to be allowed by name on global installs (and will refuse unlisted ones).
        '--allow-scripts=better-sqlite3,raw-socket,reachgate',
        tarball,
      ],
      { cwd: dir, timeoutMs: INSTALL_TIMEOUT_MS, env },
    );
  const full = join(dir, 'full');
  const degraded = join(dir, 'no-raw-socket');
  const fullInstall = await install(full, {
    ...cache.env,
    ...(await prebuiltFrom(join(ROOT, SQLITE), join(dir, 'prebuilds-checkout'))),
  });
  const degradedInstall = await install(degraded, {
    ...noBuildTools,
    ...(fullInstall.code === 0 ? await prebuiltFrom(join(full, INSTALLED, SQLITE), join(dir, 'prebuilds-full')) : {}),
  });

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
    const opened = { state: 'open', verdict: 'pass', target: { address: '127.0.0.1', port } };
    t.match(printedJson<RunReport>(probe).results, [opened]);
    t.ok(existsSync(join(full, INSTALLED, 'node_modules/raw-socket/build/Release/raw.node')), 'raw-socket was built');
    const sweep = await run(bin, ['probe', 'tcp', `127.0.0.1:${port}`, `127.0.0.2:${port}`, '--json']);
    const native = { evidence: { engine: 'native' } };
    const results = printedJson<RunReport>(sweep).results;
    t.match(results, [{ state: 'open', ...native }, native], 'a sweep runs on the native engine it built');
    if (root) {
      const echo = await run(bin, ['probe', 'icmp', '127.0.0.1', '--json']);
      t.match(printedJson<RunReport>(echo).results, [{ state: 'open', verdict: 'pass' }], echo.stderr);
    }
  });

  t.test(
    'when raw-socket cannot be built the install still succeeds, TCP probes work and ICMP says why it is off',
    async (t) => {
      t.equal(degradedInstall.code, 0, degradedInstall.stderr);
      const installed = join(degraded, INSTALLED);
      t.notOk(existsSync(join(installed, 'node_modules/raw-socket')), 'npm left the optional module out');
      const addon = (prefix: string): Buffer => readFileSync(join(prefix, INSTALLED, SQLITE, ADDON));
      t.ok(addon(degraded).equals(addon(full)), 'better-sqlite3 came prebuilt from the first install');
      const bin = join(degraded, 'bin/reachgate');
      t.equal((await run(bin, ['--version'])).stdout, `${VERSION}\n`);
      const probe = await run(bin, ['probe', 'tcp', `127.0.0.1:${port}`, '--json']);
      t.equal(probe.code, 0, probe.stderr);
      t.match(printedJson<RunReport>(probe).results, [{ state: 'open', verdict: 'pass' }]);
      const sweep = await run(bin, ['probe', 'tcp', `127.0.0.1:${port}`, `127.0.0.2:${port}`, '--json']);
      const js = { evidence: { engine: 'js', engine_note: /native sweep engine is not built here/ } };
      const results = printedJson<RunReport>(sweep).results;
      t.match(results, [{ state: 'open', ...js }, js], 'without it sweeps run on the JavaScript engine');
      const echo = await run(bin, ['probe', 'icmp', '127.0.0.1', '--json']);
      const off = { state: 'error', verdict: 'error', reason: /raw-socket module is not installed/ };
      t.match(printedJson<RunReport>(echo).results, [off]);

      const doctor = await run(bin, ['doctor', '--json']);
      const raw = printedJson<DoctorReport>(doctor).findings.find((finding) => finding.check === 'raw-socket');
      t.match(raw, { status: 'warn', message: /raw-socket module is not installed/, evidence: { module: 'missing' } });
      t.match(
        raw?.fix,
        new RegExp(
          `then: npm install --prefix ${installed.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} --no-save --omit=dev raw-socket@\\S+$`,
        ),
      );

      // doctor's fix line, taken literally, brings the ICMP features back once a compiler is there.
      const fix = raw!.fix!.replace(/^.*then: /, '').split(' ');
      const repaired = await run(fix[0]!, [...fix.slice(1), '--no-audit', '--no-fund', '--prefer-offline'], {
        cwd: dir,
        timeoutMs: INSTALL_TIMEOUT_MS,
        env: cache.env,
      });
      t.equal(repaired.code, 0, repaired.stderr);
      t.same(
        cache.compiled(),
        { compiled: ['icmp.c', 'raw.cc', 'sweep.c'], reused: ['raw.cc'] },
        'raw.cc was compiled once',
      );
      if (root) {
        const again = await run(bin, ['probe', 'icmp', '127.0.0.1', '--json']);
        t.match(printedJson<RunReport>(again).results, [{ state: 'open', verdict: 'pass' }], again.stderr);
      }
    },
  );
});
