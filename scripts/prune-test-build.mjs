#!/usr/bin/env node
// npm test's pretest, before the tests are transpiled into dist/test/ (scripts/build-tests.mjs): keeps dist/test/ in
// step with test/.
// - Every file under dist/test/ whose source in test/ is gone (a test removed or renamed) is removed, with the
//   directories left empty: neither esbuild nor tsc deletes what it once wrote, and npm test's runner runs every
//   *.test.js there.
// - For `npx tsc -b tsconfig.test.json`, which still compiles the tests to the same files (incrementally):
//   when a test source has no compiled file beside an existing build record (dist/tsconfig.test.tsbuildinfo), the
//   record goes too, so that tsc -b compiles every test: the record says which files were written, not whether they
//   are still there (dist/test/ removed by hand, say). A new test file makes that one full compile as well.
import { existsSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = join(ROOT, 'test');
const BUILT = join(ROOT, 'dist/test');
const RECORD = join(ROOT, 'dist/tsconfig.test.tsbuildinfo');

/** The source in test/ a compiled file comes from: x.test.js and x.test.js.map from x.test.ts. */
function sourceOf(built) {
  return join(SOURCES, relative(BUILT, built).replace(/\.js(\.map)?$/, '.ts'));
}

/** Remove what has no source under `dir`; whether `dir` is empty afterwards. */
function prune(dir, removed) {
  let left = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && prune(path, removed)) {
      rmdirSync(path);
    } else if (entry.isDirectory() || existsSync(sourceOf(path))) {
      left++;
    } else {
      rmSync(path, { force: true });
      removed.push(relative(ROOT, path));
    }
  }
  return left === 0;
}

/** Whether every test source under `dir` has its compiled file. */
function allBuilt(dir) {
  return readdirSync(dir, { withFileTypes: true }).every((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return allBuilt(path);
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) return true;
    return existsSync(join(BUILT, relative(SOURCES, path)).replace(/\.ts$/, '.js'));
  });
}

const removed = [];
if (existsSync(BUILT)) prune(BUILT, removed);
if (removed.length > 0) {
  const shown = removed.filter((path) => path.endsWith('.js'));
  process.stdout.write(`pretest: removed ${shown.length} compiled tests whose source is gone: ${shown.join(', ')}\n`);
}
if (existsSync(RECORD) && !allBuilt(SOURCES)) rmSync(RECORD, { force: true });
