import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  // src/core/ when run from source, dist/src/core/ when compiled: walk up to reachgate's package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'reachgate') return dir;
    dir = dirname(dir);
  }
  throw new Error('reachgate: cannot find the package root (package.json) above its modules');
}

/** The folder reachgate is installed in: package.json, profiles/, bin/. */
export const PACKAGE_ROOT: string = findRoot();
