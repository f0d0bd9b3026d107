import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

// The one module under test/ that knows where it runs from: npm test runs the tests compiled (dist/test/*.js), and
// `npx tap test/x/y.test.ts` from source (test/*.ts, through tap's TypeScript loader).
const COMPILED = !import.meta.url.endsWith('.ts');

/** The runnable file of a module under test/ for a child process: `run/child` is test/run/child.ts or its .js in dist. */
export function testModule(name: string): string {
  return COMPILED ? join(PACKAGE_ROOT, 'dist', 'test', `${name}.js`) : join(PACKAGE_ROOT, 'test', `${name}.ts`);
}
