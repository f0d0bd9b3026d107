import { PACKAGE_ROOT } from '../../src/core/package-root.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { sourceMappedStack } from '../../src/cli/fault.js';
import { packageRootOf } from '../../src/core/package-root.js';
import { BIN } from '../helpers/cli.js';

// The CLI as users run it is the esbuild bundle (scripts/bundle.mjs, made by `npm run build`): one file of
// reachgate's code, npm packages loaded from node_modules only by the commands that need them.
const ROOT = PACKAGE_ROOT;
const BUNDLE = join(ROOT, 'bundle', 'src', 'cli', 'reachgate.cjs');
const PROBE_BUNDLE = join(ROOT, 'bundle', 'src', 'cli', 'reachgate-probe.cjs');
const TCP_BUNDLE = join(ROOT, 'bundle', 'src', 'cli', 'reachgate-probe-tcp.cjs');
const HEAVY = ['fastify', 'better-sqlite3', 'undici', 'pg', 'playwright-core', 'pino', 'ajv', 'yargs'];

const dir = mkdtempSync(join(tmpdir(), 'reachgate-bundle-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// Preloaded into the CLI: at exit it writes every file Node compiled as CommonJS (the bundle, packages) and every
// module the ESM loader resolved (the launcher, ESM-only packages).
const PRELOAD = join(dir, 'loaded.cjs');
writeFileSync(
  PRELOAD,
  `const loaded = new Set();
process.on('exit', () => {
  for (const file of Object.keys(require.cache)) loaded.add(file);
  require('node:fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify([...loaded]));
});
`,
);

/** Run the CLI with the preload; what it printed and the files it loaded. */
function loadedBy(args: string[]): Promise<{ code: number | null; stdout: string; loaded: string[] }> {
  const out = join(dir, `loaded-${args.join('-').replace(/[^a-z0-9]/gi, '_')}.json`);
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  return new Promise((resolve) => {
    // Through env(1): tap wraps the node processes it sees spawned with its own loader; a user's shell would not.
    execFile(
      'env',
      ['-u', 'NODE_OPTIONS', process.execPath, '--require', PRELOAD, BIN, ...args],
      { env: { ...env, LOADED_OUT: out }, timeout: 30_000 },
      (error, stdout) => {
        const code = error ? ((error as { code?: number }).code ?? null) : 0;
        resolve({ code, stdout, loaded: JSON.parse(readFileSync(out, 'utf8')) as string[] });
      },
    );
  });
}

t.test('a tcp probe runs from the tcp probe bundle alone and loads no heavy package', async (t) => {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const run = await loadedBy(['probe', 'tcp', `127.0.0.1:${port}`, '--json']);
  t.equal(run.code, 0, 'the probe passes');
  t.match(run.stdout, /"state": ?"open"/);
  const own = run.loaded.filter((file) => file.startsWith(ROOT) && !file.includes('/node_modules/'));
  t.same(own, [BIN, TCP_BUNDLE], 'of reachgate itself only the launcher and the tcp probe bundle were compiled');
  const heavy = run.loaded.filter((file) => HEAVY.some((name) => file.includes(`/node_modules/${name}/`)));
  t.same(heavy, [], 'no heavy package was loaded');
});

t.test('the bundled version command prints the version', async (t) => {
  const run = await loadedBy(['--version']);
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.equal(run.stdout, `${version}\n`);
  const own = run.loaded.filter((file) => file.startsWith(ROOT) && !file.includes('/node_modules/'));
  t.same(own, [BIN, BUNDLE], 'every other command runs from the whole bundle');
});

t.test('a probe command line the fast path leaves to yargs goes on to the whole bundle', async (t) => {
  const run = await loadedBy(['probe', 'tcp', '--help']);
  t.equal(run.code, 0);
  t.match(run.stdout, /--scan/, "the tcp kind's own help");
  const own = run.loaded.filter((file) => file.startsWith(ROOT) && !file.includes('/node_modules/'));
  t.same(own, [BIN, TCP_BUNDLE, BUNDLE]);
});

t.test('a probe of another kind runs from the probe bundle of every kind', async (t) => {
  const run = await loadedBy(['probe', 'udp', '127.0.0.1:9', '--timeout', '100ms', '--attempts', '1', '--json']);
  t.match(run.stdout, /"kind": ?"udp"/);
  const own = run.loaded.filter((file) => file.startsWith(ROOT) && !file.includes('/node_modules/'));
  t.same(own, [BIN, PROBE_BUNDLE]);
});

t.test('the coordinator command shows its help without loading the server, its stores or its logger', async (t) => {
  const run = await loadedBy(['coordinator', '--help']);
  t.equal(run.code, 0);
  t.match(run.stdout, /--listen/);
  const heavy = run.loaded.filter((file) => HEAVY.some((name) => file.includes(`/node_modules/${name}/`)));
  t.same(heavy, [], 'no heavy package was loaded');
});

t.test(
  'a profile is checked by the validators generated at build time: no schema is compiled at run time',
  async (t) => {
    const profile = join(dir, 'bad-profile.yaml');
    writeFileSync(profile, 'role: x\nprobes:\n  - row: a\n    kind: tcp\n    target: somewhere\n    portz: 1\n');
    const site = join(dir, 'site.yaml');
    writeFileSync(site, 'site: s\nhosts:\n  somewhere: [127.0.0.1]\n');
    const run = await loadedBy(['run', '--site', site, profile]);
    t.equal(run.code, 2, 'the unknown key is a usage error');
    const ajv = run.loaded.filter((file) => file.includes('/node_modules/ajv/'));
    t.ok(ajv.length > 0, "the generated code uses ajv's runtime helpers");
    t.same(
      ajv.filter((file) => !file.includes('/node_modules/ajv/dist/runtime/')),
      [],
      "nothing of ajv's compiler is loaded",
    );
  },
);

t.test('the package root of the bundle is the checkout that holds it', (t) => {
  t.equal(packageRootOf('file:///opt/reachgate/bundle/src/cli/reachgate.cjs'), '/opt/reachgate');
  t.equal(packageRootOf('file:///home/bundle/reachgate/src/core/package-root.ts'), '/home/bundle/reachgate');
  t.end();
});

t.test("an internal fault's stack in the bundle is mapped back to the TypeScript source", (t) => {
  // A frame at the bundled kindNames() of src/profile/kinds.ts, as V8 would print it (the bundle is minified:
  // the function may start anywhere in a line).
  const lines = readFileSync(BUNDLE, 'utf8').split('\n');
  const index = lines.findIndex((line) => line.includes('function kindNames('));
  t.ok(index >= 0, 'the bundle holds kindNames');
  const column = lines[index]!.indexOf('function kindNames(') + 1;
  const stack = `Error: boom\n    at kindNames (${BUNDLE}:${index + 1}:${column})\n    at node:internal/main:1:1`;
  const mapped = sourceMappedStack(stack);
  const source = readFileSync(join(ROOT, 'src', 'profile', 'kinds.ts'), 'utf8').split('\n');
  const line = source.findIndex((text) => text.startsWith('export function kindNames(')) + 1;
  t.match(mapped, `at kindNames (src/profile/kinds.ts:${line}:`);
  t.match(mapped, 'at node:internal/main:1:1', 'frames without a map stay as they are');
  t.end();
});
