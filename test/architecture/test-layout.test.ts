import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';
import { testModule } from '../helpers/test-tree.js';

// npm test runs the tests compiled to dist/test/ (README, Development), one folder deeper than their sources, and
// without anything beside them that is not TypeScript. A test that finds a file relative to its own (import.meta.url,
// __dirname) passes when run from source and fails there: the checkout is PACKAGE_ROOT (src/core/package-root.ts),
// and a module under test/ that a test runs as a child process is testModule('run/child') (test/helpers/test-tree.ts).

/** Every TypeScript file under test/, as a path from the checkout. */
function testSources(): string[] {
  const test = join(PACKAGE_ROOT, 'test');
  return readdirSync(test, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.ts'))
    .map((path) => join('test', path));
}

t.test('no test finds a file relative to its own path; each goes through PACKAGE_ROOT', async (t) => {
  const self = join('test', 'architecture', 'test-layout.test.ts');
  const sources = testSources();
  t.ok(sources.includes(self), 'the walk sees this file');
  // This file names what it looks for, and test-tree.ts is the one place that tells the two layouts apart.
  const relative = sources
    .filter((path) => path !== self && path !== join('test', 'helpers', 'test-tree.ts'))
    .flatMap((path) =>
      readFileSync(join(PACKAGE_ROOT, path), 'utf8')
        .split('\n')
        .flatMap((text, index) =>
          /import\.meta\.(url|dirname|filename)|__dirname/.test(text) ? [`${path}:${index + 1}`] : [],
        ),
    );
  t.same(relative, [], 'lines that resolve a path from the test file itself');
});

t.test('testModule names the file this very test runs from, compiled or from source', async (t) => {
  const file = testModule('architecture/test-layout.test');
  t.ok(existsSync(file), file);
  t.equal(file.endsWith('.ts'), process.argv[1]!.endsWith('.ts'), 'the layout of the running test');
});
