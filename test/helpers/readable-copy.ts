import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

// Another user (nobody) cannot run the CLI from a checkout under a 0700 home (/root on Debian): it cannot even
// open bin/reachgate. Runs as another user therefore start from a copy in the temp directory that anyone can read:
// what `npm pack` ships and the production dependencies, about 3,700 files and 30 MB, made by one cp(1) in about
// 1.5 s of CPU, once per test file. It is made wherever the checkout is, so /root, /home and /tmp run the same code.

const ROOT = PACKAGE_ROOT;

let copy: Promise<string> | undefined;

/** The folder of a world-readable copy of this checkout's CLI, made on first use and removed when the process exits. */
export function readableCopy(): Promise<string> {
  copy ??= makeCopy();
  return copy;
}

async function makeCopy(): Promise<string> {
  const dir = mkdtempSync(join(searchableTemp(), 'reachgate-readable-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  // The sweep engine as its install script builds it (scripts/build-native.mjs).
  const engine = 'native/build/Release/reachgate_sweep.node';
  const paths = ['package.json', ...manifest.files, engine, ...productionModules().flatMap(withoutBuildSources)];
  const run = promisify(execFile);
  await run('cp', ['-r', '--parents', ...paths.filter((path) => existsSync(join(ROOT, path))), dir], { cwd: ROOT });
  // Readable whatever the umask of the checkout was; X leaves plain files that were not executable so.
  await run('chmod', ['-R', 'a+rX', dir]);
  return dir;
}

/** A temp directory other users can reach: TMPDIR may be private (libpam-tmpdir sets /tmp/user/0, mode 0700). */
function searchableTemp(): string {
  const searchable = (dir: string): boolean =>
    (statSync(dir).mode & 0o001) !== 0 && (dir === '/' || searchable(dirname(dir)));
  return [tmpdir(), '/tmp', '/var/tmp'].find((dir) => existsSync(dir) && searchable(dir)) ?? tmpdir();
}

/** The top-level node_modules folders the installed package needs: the lockfile's entries that are not dev-only. */
function productionModules(): string[] {
  type Lockfile = { packages: Record<string, { dev?: boolean }> };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lockfile;
  return Object.entries(lock.packages)
    .filter(([path, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && !entry.dev)
    .map(([path]) => path);
}

/** A module's paths to copy: all of it, or for a native addon its built `.node` files without sources and objects. */
function withoutBuildSources(module: string): string[] {
  if (!existsSync(join(ROOT, module, 'binding.gyp'))) return [module];
  const release = join(module, 'build', 'Release');
  const addons = existsSync(join(ROOT, release))
    ? readdirSync(join(ROOT, release))
        .filter((name) => name.endsWith('.node'))
        .map((name) => join(release, name))
    : [];
  const rest = readdirSync(join(ROOT, module))
    .filter((name) => !['build', 'deps', 'src'].includes(name))
    .map((name) => join(module, name));
  return [...rest, ...addons];
}
