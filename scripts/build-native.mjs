#!/usr/bin/env node
// Build the native sweep engine (native/sweep.c, an N-API addon) with node-gyp into native/build/Release/.
// `npm run build:native` builds it and fails when it cannot. As the package's install script (`--optional`, run by
// `npm ci` and by `npm install` of the tarball) a failed build is not an error: reachgate then sweeps on its
// JavaScript engine, slower, and says so in each sweep result's evidence (`engine: "js"`, `engine_note`).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NATIVE = join(ROOT, 'native');
const optional = process.argv.includes('--optional');
const ADDON = join(NATIVE, 'build', 'Release', 'reachgate_sweep.node');

// --if-stale (npm test's pretest): nothing to do when the addon is newer than its sources.
if (process.argv.includes('--if-stale') && existsSync(ADDON)) {
  const built = statSync(ADDON).mtimeMs;
  if (['sweep.c', 'icmp.c', 'icmp.h', 'binding.gyp'].every((name) => statSync(join(NATIVE, name)).mtimeMs <= built))
    process.exit(0);
}

/** node-gyp: the one npm hands its scripts, else the one in node_modules, else the one on PATH. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return [process.execPath, process.env.npm_config_node_gyp];
  }
  try {
    return [process.execPath, createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    return ['node-gyp'];
  }
}

/** Node's headers as installed beside this node (Debian's nodejs, the official tarball): no download needed. */
function nodeDir() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

const [command, ...head] = nodeGyp();
const result = spawnSync(command, [...head, 'rebuild', ...nodeDir()], {
  cwd: NATIVE,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
  timeout: 300_000,
});
const built = result.status === 0 && existsSync(ADDON);
if (built) {
  process.stdout.write('reachgate: built the native sweep engine (native/build/Release/reachgate_sweep.node)\n');
  process.exit(0);
}
// The compiler's own error lines first (node-gyp's last lines only say that make failed), then node-gyp's tail.
const said = `${result.stderr || ''}\n${result.stdout || ''}`.trim().split('\n');
const errors = said.filter((line) => /\berror\b/.test(line) && !line.startsWith('gyp ERR!')).slice(0, 10);
const why = result.error ? result.error.message : [...errors, ...said.slice(-6)].join('\n');
process.stderr.write(
  `reachgate: the native sweep engine did not build; sweeps run on the JavaScript engine (slower).\n` +
    `  Needs a C compiler, make and python3 (Debian: apt-get install g++ make python3), then: npm run build:native\n` +
    `  node-gyp said:\n${why.replace(/^/gm, '    ')}\n`,
);
process.exit(optional ? 0 : 1);
