import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

// npm test runs the tests compiled to dist/test/ (README, Development), one folder deeper than their sources, and
// without anything beside them that is not TypeScript. A test that finds a file relative to its own (import.meta.url,
// __dirname) passes when run from source and fails there: the checkout is PACKAGE_ROOT (src/core/package-root.ts).

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
  // This file names what it looks for, so it is left out.
  const relative = sources
    .filter((path) => path !== self)
    .flatMap((path) =>
      readFileSync(join(PACKAGE_ROOT, path), 'utf8')
        .split('\n')
        .flatMap((text, index) =>
          /import\.meta\.(url|dirname|filename)|__dirname/.test(text) ? [`${path}:${index + 1}`] : [],
        ),
    );
  t.same(relative, [], 'lines that resolve a path from the test file itself');
});
