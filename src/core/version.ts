import { readFileSync } from 'node:fs';

function readVersion(): string {
  // src/core/ when run from source, dist/src/core/ when compiled: package.json is two or three levels up.
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'reachgate' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

/** reachgate's version, from its package.json. */
export const VERSION: string = readVersion();
