#!/usr/bin/env node
// npm test's pretest, after the sources' build: the tests into dist/test/, and tap as one file for them.
// - The tests (test/**/*.ts) are transpiled with esbuild, a file at a time as tsc would emit them (ESM, source maps,
//   tsconfig.test.json's options), in well under a second. Their type-check, the part of tsc's compile that took the
//   time (~14 s of CPU for a fresh clone's first run, all of it before the first test could start), is not skipped:
//   npm test's runner runs it (`npm run --silent typecheck:tests`) beside the test files (scripts/run-tests.mjs
//   --checks), and a type error fails npm test as before. `npx tsc -b tsconfig.test.json` still compiles the tests
//   with tsc, to the same files.
// - tap is bundled into dist/node_modules/tap/ (rebuilt when the installed tap changes), which a compiled test's
//   `import t from 'tap'` finds before the checkout's node_modules/tap: one file to read instead of the ~260 modules
//   of tap and its plugins, ~0.25 s less CPU per test file (~25 s over the suite). It is the same code, only in one
//   file: a test from source (`npx tap test/x.test.ts`) loads the installed tap. The bundle sits under a
//   node_modules/@tapjs/ path, so tap leaves its frames out of a failure's stack and location as it does its own.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = join(ROOT, 'test');
const BUILT = join(ROOT, 'dist/test');
const TAP_DIR = join(ROOT, 'dist/node_modules/tap');
const TAP_BUNDLE = join(TAP_DIR, 'node_modules/@tapjs/bundled/index.mjs');

/** Every test source: *.ts under test/, declaration files aside. */
function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

async function transpileTests() {
  await build({
    entryPoints: sources(SOURCES),
    outdir: BUILT,
    outbase: SOURCES,
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: 'es2022',
    sourcemap: true,
    tsconfig: join(ROOT, 'tsconfig.test.json'),
    logLevel: 'warning',
  });
}

/** What the bundle is built from: the installed tap's version and npm's record of the install. */
function tapStamp() {
  const tap = JSON.parse(readFileSync(join(ROOT, 'node_modules/tap/package.json'), 'utf8'));
  const lock = join(ROOT, 'node_modules/.package-lock.json');
  const installed = existsSync(lock) ? statSync(lock).mtimeMs : 'absent';
  return `tap ${tap.version}, node_modules/.package-lock.json ${installed}\n`;
}

// tcompare requires react-element-to-jsx-string through createRequire at its load, which a bundler cannot follow:
// a static import of the same module instead, so that it is in the bundle too.
const inlineRequires = {
  name: 'inline-create-require',
  setup(build) {
    build.onLoad({ filter: /[/\\]tcompare[/\\]dist[/\\]esm[/\\]react-element-to-jsx-string\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!/require\('react-element-to-jsx-string'\)/.test(text)) return undefined;
      return {
        contents: "import r from 'react-element-to-jsx-string';\nexport default r.default ?? r;\n",
        loader: 'js',
        resolveDir: join(args.path, '..'),
      };
    });
  },
};

async function bundleTap() {
  const stampFile = join(TAP_DIR, 'stamp');
  const stamp = tapStamp();
  if (existsSync(TAP_BUNDLE) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  rmSync(TAP_DIR, { recursive: true, force: true });
  await build({
    entryPoints: [join(ROOT, 'node_modules/tap/dist/esm/index.js')],
    outfile: TAP_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // A CommonJS module in the bundle requires node's built-ins at run time.
    banner: {
      js: "import { createRequire as __tapBundleRequire } from 'node:module'; const require = __tapBundleRequire(import.meta.url);",
    },
    plugins: [inlineRequires],
    logLevel: 'warning',
  });
  writeFileSync(
    join(TAP_DIR, 'package.json'),
    `${JSON.stringify({ name: 'tap', private: true, type: 'module', exports: { '.': './index.mjs' } }, null, 1)}\n`,
  );
  const bundle = `./${relative(TAP_DIR, TAP_BUNDLE)}`;
  writeFileSync(join(TAP_DIR, 'index.mjs'), `export * from '${bundle}';\nexport { default } from '${bundle}';\n`);
  writeFileSync(stampFile, stamp);
}

mkdirSync(BUILT, { recursive: true });
await Promise.all([transpileTests(), bundleTap()]);
