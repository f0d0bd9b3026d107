#!/usr/bin/env node
// `npm run package`: out/reachgate_VERSION_ARCH.deb (dpkg-deb) and out/reachgate_VERSION_ARCH.tar.gz, the same tree
// for hosts without dpkg. Both carry what a minimal Debian 12 lacks: a Node.js runtime (the registry's
// node-linux-ARCH package, the official binary, of the very version running this script, so the native modules
// already built in node_modules (better-sqlite3, raw-socket) match its ABI; checked by loading them with it), the
// bundled CLI (npm run build) and the production node_modules. Run `npm run build` first (npm run package does).
//
// The tree:
//   /usr/bin/reachgate                 launcher: the carried node runs the bundled CLI
//   /usr/lib/reachgate/                the package: bin/, bundle/, profiles/, node_modules/, node/bin/node
//   /usr/lib/reachgate/setup-host      creates the reachgate system user and /var/spool/reachgate (postinst runs it)
//   /lib/systemd/system/               the units of contrib/systemd, ExecStart at /usr/bin/reachgate
//   /usr/lib/sysusers.d/reachgate.conf the same user for systemd-sysusers
//   /etc/reachgate/                    the example configs (conffiles: kept on remove, removed on purge)
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGING = join(ROOT, 'packaging');
const OUT = join(ROOT, 'out');
const CACHE = join(ROOT, 'node_modules', '.cache', 'reachgate-package');
const LIB = 'usr/lib/reachgate';

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const VERSION = manifest.version;
const DEB_ARCH = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
const NODE_ARCH = { amd64: 'x64', arm64: 'arm64', armhf: 'armv7l', ppc64el: 'ppc64le', s390x: 's390x' }[DEB_ARCH];
const NODE_VERSION = process.versions.node;

function fail(message) {
  process.stderr.write(`package: ${message}\n`);
  process.exit(1);
}

function run(command, args, options = {}) {
  return execFileSync(command, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...options });
}

if (!NODE_ARCH) fail(`no Node.js binary package for Debian architecture ${DEB_ARCH}`);
if (!existsSync(join(ROOT, 'bundle', 'src', 'cli', 'reachgate.cjs'))) fail('bundle/ is missing: run `npm run build`');

/** The registry's node-linux-ARCH tarball for this Node version, fetched once into the cache (npm checks its hash). */
function nodeTarball() {
  const name = `node-linux-${NODE_ARCH}-${NODE_VERSION}.tgz`;
  const file = join(CACHE, name);
  if (existsSync(file)) return file;
  mkdirSync(CACHE, { recursive: true });
  process.stdout.write(`package: fetching node-linux-${NODE_ARCH}@${NODE_VERSION} from the npm registry\n`);
  run('npm', ['pack', '--silent', '--pack-destination', CACHE, `node-linux-${NODE_ARCH}@${NODE_VERSION}`]);
  if (!existsSync(file)) fail(`npm pack did not leave ${file}`);
  return file;
}

/** The top-level node_modules folders the installed package needs: the lockfile's entries that are not dev-only. */
function productionModules() {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  return Object.entries(lock.packages)
    .filter(([path, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && !entry.dev)
    .map(([path]) => path)
    .filter((path) => existsSync(join(ROOT, path)));
}

/** Copy a module; of a native one only its built addons, without sources, objects and vendored dependencies. */
function copyModule(module, into) {
  const from = join(ROOT, module);
  if (!existsSync(join(from, 'binding.gyp'))) {
    cpSync(from, join(into, module), { recursive: true });
    return;
  }
  for (const name of readdirSync(from)) {
    if (!['build', 'deps', 'src'].includes(name))
      cpSync(join(from, name), join(into, module, name), { recursive: true });
  }
  const release = join(from, 'build', 'Release');
  const addons = existsSync(release) ? readdirSync(release).filter((name) => name.endsWith('.node')) : [];
  if (addons.length === 0) fail(`${module} has no built addon in build/Release: run \`npm rebuild\` first`);
  mkdirSync(join(into, module, 'build', 'Release'), { recursive: true });
  for (const name of addons) copyFileSync(join(release, name), join(into, module, 'build', 'Release', name));
}

function write(file, text, mode = 0o644) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

function sizeKiB(dir) {
  return Number(run('du', ['-sk', '--apparent-size', dir]).split('\t')[0]);
}

const STAGE = join(OUT, `reachgate_${VERSION}_${DEB_ARCH}`);
rmSync(STAGE, { recursive: true, force: true });
mkdirSync(STAGE, { recursive: true });
const lib = join(STAGE, LIB);

// The runtime: the official node binary from the registry package, with its licence.
const tarball = nodeTarball();
const unpacked = join(OUT, 'node-package');
rmSync(unpacked, { recursive: true, force: true });
mkdirSync(unpacked, { recursive: true });
run('tar', ['-xzf', tarball, '-C', unpacked, 'package/bin/node', 'package/LICENSE']);
mkdirSync(join(lib, 'node', 'bin'), { recursive: true });
copyFileSync(join(unpacked, 'package', 'bin', 'node'), join(lib, 'node', 'bin', 'node'));
chmodSync(join(lib, 'node', 'bin', 'node'), 0o755);
copyFileSync(join(unpacked, 'package', 'LICENSE'), join(lib, 'node', 'LICENSE'));
rmSync(unpacked, { recursive: true, force: true });

// reachgate: what `npm pack` ships, minus dist/ (the launcher runs the bundle), plus the production modules.
for (const part of manifest.files.filter((part) => part !== 'dist' && part !== 'contrib')) {
  if (existsSync(join(ROOT, part))) cpSync(join(ROOT, part), join(lib, part), { recursive: true });
}
copyFileSync(join(ROOT, 'package.json'), join(lib, 'package.json'));
for (const module of productionModules()) copyModule(module, lib);
// The native sweep engine, built by npm ci's install script (scripts/build-native.mjs) for this Node's N-API.
const SWEEP_ADDON = join('native', 'build', 'Release', 'reachgate_sweep.node');
if (!existsSync(join(ROOT, SWEEP_ADDON))) fail(`${SWEEP_ADDON} is missing: run \`npm run build:native\` first`);
mkdirSync(join(lib, dirname(SWEEP_ADDON)), { recursive: true });
copyFileSync(join(ROOT, SWEEP_ADDON), join(lib, SWEEP_ADDON));

// The carried node must load the native modules: the proof that they were built for its ABI.
const NODE = join(lib, 'node', 'bin', 'node');
const check =
  "const db = require('better-sqlite3')(':memory:'); db.prepare('select 1').get(); require('raw-socket');" +
  "require('./native/build/Release/reachgate_sweep.node');" +
  'process.stdout.write(process.versions.modules)';
const abi = run(NODE, ['-e', check], { cwd: lib });
process.stdout.write(
  `package: node ${NODE_VERSION} (ABI ${abi}) loads better-sqlite3, raw-socket and the sweep engine\n`,
);

write(join(STAGE, 'usr/bin/reachgate'), readFileSync(join(PACKAGING, 'reachgate.sh'), 'utf8'), 0o755);
write(join(lib, 'setup-host'), readFileSync(join(PACKAGING, 'setup-host.sh'), 'utf8'), 0o755);

// The systemd units, started from /usr/bin/reachgate; the agent may write its spool under /var/spool/reachgate.
const units = join(ROOT, 'contrib', 'systemd');
for (const name of readdirSync(units).filter((file) => /\.(service|timer)$/.test(file))) {
  const text = readFileSync(join(units, name), 'utf8').replaceAll('/usr/local/bin/reachgate', '/usr/bin/reachgate');
  write(join(STAGE, 'lib/systemd/system', name), text);
  if (name.startsWith('reachgate-agent') && name.endsWith('.service')) {
    write(join(STAGE, 'lib/systemd/system', `${name}.d`, 'spool.conf'), readFileSync(join(PACKAGING, 'spool.conf')));
  }
}
write(join(STAGE, 'usr/lib/sysusers.d/reachgate.conf'), readFileSync(join(units, 'reachgate.sysusers')));
for (const name of ['agent.example.yaml', 'site.example.yaml']) {
  write(join(STAGE, 'etc/reachgate', name), readFileSync(join(ROOT, 'profiles', 'examples', name)));
}
write(
  join(STAGE, 'usr/share/doc/reachgate/copyright'),
  `reachgate ${VERSION}: ${manifest.license} licence.\n` +
    `It carries Node.js ${NODE_VERSION} (${LIB}/node, licence in ${LIB}/node/LICENSE) and the npm packages in\n` +
    `${LIB}/node_modules, each with its licence in its folder.\n`,
);
// No write access for group and others anywhere; executables stay executable.
run('chmod', ['-R', 'u+rwX,go-w,go+rX', STAGE]);

// The Debian control files.
const debian = join(STAGE, 'DEBIAN');
const control = readFileSync(join(PACKAGING, 'control'), 'utf8')
  .replaceAll('@VERSION@', VERSION)
  .replaceAll('@ARCH@', DEB_ARCH)
  .replaceAll('@NODE_VERSION@', NODE_VERSION)
  .replaceAll('@INSTALLED_SIZE@', String(sizeKiB(STAGE)));
write(join(debian, 'control'), control);
write(join(debian, 'conffiles'), '/etc/reachgate/agent.example.yaml\n/etc/reachgate/site.example.yaml\n');
for (const script of ['postinst', 'prerm', 'postrm']) {
  write(join(debian, script), readFileSync(join(PACKAGING, script), 'utf8'), 0o755);
}

const deb = join(OUT, `reachgate_${VERSION}_${DEB_ARCH}.deb`);
const tgz = join(OUT, `reachgate_${VERSION}_${DEB_ARCH}.tar.gz`);
rmSync(deb, { force: true });
rmSync(tgz, { force: true });
run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z6', '--build', STAGE, deb]);
// The tarball: the same tree without DEBIAN/, to unpack at / (then run /usr/lib/reachgate/setup-host).
run('tar', ['--owner=0', '--group=0', '--exclude=./DEBIAN', '-czf', tgz, '-C', STAGE, '.']);
rmSync(STAGE, { recursive: true, force: true });
for (const file of [deb, tgz]) {
  process.stdout.write(`package: ${file} (${(statSync(file).size / 1048576).toFixed(1)} MiB)\n`);
}
