import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PACKAGE_ROOT, packageRootOf } from '../../src/core/package-root.js';
import { VERSION } from '../../src/core/version.js';

t.test('the version constant is the version in package.json', (t) => {
  t.plan(1);
  const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  t.equal(VERSION, manifest.version, 'change src/core/version.ts together with package.json');
});

t.test('the package root is the folder that holds package.json, run from source or compiled', (t) => {
  t.plan(3);
  const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name: string };
  t.equal(manifest.name, 'reachgate');
  t.equal(packageRootOf('file:///opt/reachgate/src/core/package-root.ts'), '/opt/reachgate');
  t.equal(packageRootOf('file:///opt/reachgate/dist/src/core/package-root.js'), '/opt/reachgate');
});
