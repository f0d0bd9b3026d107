#!/usr/bin/env node
// Bundle the CLI with esbuild into one file, bundle/src/cli/reachgate.cjs: every module of reachgate's own, the
// probe kinds included; and the probe path alone into bundle/src/cli/reachgate-probe.cjs, which bin/reachgate runs
// for `reachgate probe`, so that `reachgate probe tcp` reads and compiles one file of code, 40 % of the whole. The modules a command loads by dynamic
// import are wrapped to run on first use, as before. npm packages stay outside the bundle and load from node_modules
// when the module that needs them first runs: the output is CommonJS, where esbuild turns a static import of a
// package into a require() at its first use instead of a load at start (ESM output would hoist them all to the
// top), so fastify, better-sqlite3, undici, raw-socket, pg and playwright still load only in the commands that use
// them. The file sits at the depth of tsc's dist/src/cli/main.js, so the paths the code works out from
// import.meta.url (package root, bin/) hold. The source map beside it is read only to print an internal fault
// (src/cli/fault.ts): starting costs nothing for it.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'bundle');
const ENTRY = join(ROOT, 'src', 'cli', 'reachgate.ts');
// `reachgate probe` starts from a bundle of its own, the probe path only (src/cli/probe-entry.ts).
const PROBE_ENTRY = join(ROOT, 'src', 'cli', 'probe-entry.ts');
const KINDS_MODULE = join(ROOT, 'src', 'profile', 'kinds.ts');

/** Replace `from` in `text` once, failing the build when the source no longer reads as expected. */
function replaceOnce(text, from, to) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(
      `bundle: src/profile/kinds.ts changed; expected exactly one \`${from}\` (update scripts/bundle.mjs)`,
    );
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

// src/profile/kinds.ts finds probe kinds by file name in probes/ and imports the one asked for by a computed URL,
// which no bundler can follow. In the bundle the kinds present at build time are the kinds: the listing becomes
// their names and the import a switch of literal imports, each kind still loaded only when asked for. A bundle
// for one kind (`only`) lists every kind but holds the code of that one alone.
const kindsPlugin = (only) => ({
  name: 'probe-kinds',
  setup(build) {
    build.onLoad({ filter: /[/\\]src[/\\]profile[/\\]kinds\.ts$/ }, (args) => {
      if (args.path !== KINDS_MODULE) return undefined;
      const names = readdirSync(join(ROOT, 'probes'))
        .filter((file) => /^[a-z0-9-]+\.ts$/.test(file))
        .map((file) => file.slice(0, -3));
      const cases = names
        .filter((name) => only === undefined || name === only)
        .map((name) => `case ${JSON.stringify(name)}: return import(${JSON.stringify(`../../probes/${name}.ts`)});`)
        .join(' ');
      let text = readFileSync(args.path, 'utf8');
      text = replaceOnce(text, 'readdirSync(PROBES_DIR)', `${JSON.stringify(names.map((name) => `${name}.ts`))}`);
      text = replaceOnce(
        text,
        'await import(new URL(file, PROBES_DIR).href)',
        `await ((): Promise<unknown> => { switch (name) { ${cases} default: throw new Error(file); } })()`,
      );
      return { contents: text, loader: 'ts' };
    });
  },
});

// Whitespace and syntax minified (names kept, for stacks): a cold start compiles fewer bytes (~3 ms of CPU).
const common = {
  outdir: OUT,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // CommonJS has no import.meta: the one URL the code asks for is this file's own.
  define: { 'import.meta.url': '__reachgateModuleUrl' },
  banner: { js: "const __reachgateModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
};

rmSync(OUT, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: { 'src/cli/reachgate': ENTRY, 'src/cli/reachgate-probe': PROBE_ENTRY },
  plugins: [kindsPlugin()],
});
// `reachgate probe tcp` (every sweep, most rows) starts from a probe bundle with the tcp kind alone: 40 % of the
// probe bundle's bytes, ~6 ms less CPU to compile. Other kinds run from the probe bundle (bin/reachgate).
await build({
  ...common,
  entryPoints: { 'src/cli/reachgate-probe-tcp': PROBE_ENTRY },
  plugins: [kindsPlugin('tcp')],
});
process.stdout.write(
  `bundle: ${['reachgate', 'reachgate-probe', 'reachgate-probe-tcp'].map((name) => join(OUT, 'src', 'cli', `${name}.cjs`)).join(', ')}\n`,
);
