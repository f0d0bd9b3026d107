import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder a module of reachgate's lies under: src/core/ when run from source (tests), dist/src/core/ when
 * compiled, bundle/src/chunks/ when bundled (scripts/bundle.mjs). Worked out from this module's own path, without
 * reading the disk.
 */
export function packageRootOf(moduleUrl: string): string {
  const core = dirname(fileURLToPath(moduleUrl));
  const src = dirname(core);
  const above = dirname(src);
  const built = basename(above) === 'dist' || (basename(above) === 'bundle' && !moduleUrl.endsWith('.ts'));
  return built ? dirname(above) : above;
}

/** The folder reachgate is installed in: package.json, profiles/, bin/. */
export const PACKAGE_ROOT: string = resolve(packageRootOf(import.meta.url));
