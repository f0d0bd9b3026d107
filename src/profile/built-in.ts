import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.js';

/** Names of the built-in profiles, like tightgate/workstation. */
export function builtInProfiles(): string[] {
  const root = join(PACKAGE_ROOT, 'profiles');
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== 'schema' && entry.name !== 'examples')
    .flatMap((dir) =>
      readdirSync(join(root, dir.name))
        .filter((file) => file.endsWith('.yaml'))
        .map((file) => `${dir.name}/${file.slice(0, -5)}`),
    )
    .sort();
}
