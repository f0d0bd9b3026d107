import { createHash } from 'node:crypto';
import type { ProbeKind } from '../core/probe-kind.js';
import { loadKind } from './kinds.js';
import type { Problem } from './source.js';
import { loadSite, type Site } from './site.js';
import { loadProfile, type Profile } from './profile.js';

/** Profiles and a site, loaded together; problems from every file at once. */
export interface LoadedRun {
  profiles: Profile[];
  site: Site | null;
  kinds: Map<string, ProbeKind>;
  problems: Problem[];
}

/** Load profiles (and a site, when given) and report every problem of every file. */
export async function loadRun(profileNames: readonly string[], siteFile?: string): Promise<LoadedRun> {
  const problems: Problem[] = [];
  let site: Site | null = null;
  if (siteFile !== undefined) {
    const loaded = await loadSite(siteFile);
    problems.push(...loaded.source.problems);
    site = loaded.site;
  }
  const profiles: Profile[] = [];
  for (const name of profileNames) {
    const loaded = await loadProfile(name, site?.settings);
    problems.push(...loaded.source.problems);
    if (loaded.profile) profiles.push(loaded.profile);
  }
  const kinds = new Map<string, ProbeKind>();
  for (const kind of new Set(profiles.flatMap((profile) => profile.probes.map((probe) => probe.kind)))) {
    kinds.set(kind, await loadKind(kind));
  }
  return { profiles, site, kinds, problems };
}

/** The name and content hash a report records for the profiles it ran. */
export function profileIdentity(profiles: readonly Profile[]): { name: string; hash: string } {
  if (profiles.length === 1) return { name: profiles[0]!.name, hash: profiles[0]!.hash };
  const hash = createHash('sha256');
  for (const profile of profiles) hash.update(profile.hash);
  return { name: profiles.map((profile) => profile.name).join('+'), hash: hash.digest('hex') };
}
