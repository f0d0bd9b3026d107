import { readdirSync } from 'node:fs';
import type { ProbeKind } from '../core/probe-kind.js';
import { UsageError } from '../core/usage-error.js';

// Probe kinds are plug-ins: one module per kind in probes/, found by file name.
const PROBES_DIR = new URL('../../probes/', import.meta.url);

/** Names of every installed probe kind. */
export function kindNames(): string[] {
  const names = readdirSync(PROBES_DIR)
    .filter((file) => /^[a-z0-9-]+\.(js|ts)$/.test(file))
    .map((file) => file.slice(0, -3));
  return [...new Set(names)].sort();
}

/** Load one probe kind by name; an unknown name is a usage error listing the known ones. */
export async function loadKind(name: string): Promise<ProbeKind> {
  const known = kindNames();
  if (!known.includes(name)) {
    throw new UsageError(`Unknown probe kind \`${name}\``, `Known kinds: ${known.join(', ')}`);
  }
  // Compiled, a kind is name.js; run from source (tests), name.ts.
  const file = import.meta.url.endsWith('.ts') ? `${name}.ts` : `${name}.js`;
  const module = (await import(new URL(file, PROBES_DIR).href)) as { default: ProbeKind };
  return module.default;
}
