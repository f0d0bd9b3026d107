import type { Expectation } from '../core/result.js';
import type { Profile, ProfileProbe } from '../profile/profile.js';
import type { Site } from '../profile/site.js';

/** What a site made of one profile entry: the values it bound, and whether the entry probes at all there. */
export interface SiteBinding {
  site: string;
  /** Each target variable and the hosts the site binds to it (the fallback's, when none of them is bound). */
  hosts: Array<{ variable: string; hosts: string[] }>;
  /** The fallback variable that was used because no target variable is bound. */
  fallback?: string;
  /** The settings the entry names (`${settings.NAME}`), and the timeout it runs with. */
  settings: Record<string, unknown>;
  /** The entry's feature is in use at the site (true for an entry without a feature). */
  in_use: boolean;
  /** The expectation after the feature rule: an optional row the site does not use must be blocked. */
  expect: Expectation;
  /** Why this entry made no probe at this site (edition, if-set, unless-set). */
  skipped?: string;
}

/** One profile entry of a row: as written, and what the site made of it. */
export interface EntryOrigin {
  profile: string;
  file: string;
  line: number;
  /** 1-based position in the profile's probe list. */
  entry: number;
  kind: string;
  target: string[];
  ports?: unknown;
  options: Record<string, unknown>;
  expect: Expectation;
  feature?: string;
  control?: string;
  site?: SiteBinding;
}

const SETTING = /\$\{settings\.([a-z0-9-]+)\}/g;

/** The profile entries that make a row's probes, each with what the site (when given) binds to it. */
export function originsOf(profiles: readonly Profile[], site: Site | null, row: string): EntryOrigin[] {
  return profiles.flatMap((profile) =>
    profile.probes
      .filter((probe) => probe.row === row)
      .map((probe): EntryOrigin => {
        const offset = profile.source.offsetOf(['probes', probe.index]);
        return {
          profile: profile.name,
          file: profile.file,
          line: profile.source.text.slice(0, offset).split('\n').length,
          entry: probe.index + 1,
          kind: probe.kind,
          target: probe.target,
          ...(probe.ports === undefined ? {} : { ports: probe.ports }),
          options: probe.options,
          expect: probe.expect,
          ...(probe.feature ? { feature: probe.feature } : {}),
          ...(probe.control ? { control: probe.control } : {}),
          ...(site ? { site: bindingOf(probe, site) } : {}),
        };
      }),
  );
}

function bindingOf(probe: ProfileProbe, site: Site): SiteBinding {
  const bound = probe.target.map((variable) => ({ variable, hosts: [...(site.hosts[variable] ?? [])] }));
  const fallback = probe.fallback ?? 'internet-canaries';
  const useFallback = bound.every((binding) => binding.hosts.length === 0);
  const hosts = useFallback ? [...bound, { variable: fallback, hosts: [...(site.hosts[fallback] ?? [])] }] : bound;
  const settings: Record<string, unknown> = {};
  for (const [, name] of JSON.stringify([probe.ports ?? null, probe.options]).matchAll(SETTING))
    settings[name!] = (site.settings as unknown as Record<string, unknown>)[name!];
  settings.timeout = probe.timeout ?? site.settings.timeout;
  const inUse = probe.feature === undefined || site.features.has(probe.feature);
  const skipped =
    probe.edition !== undefined && probe.edition !== site.edition
      ? `the entry is for edition ${probe.edition}; ${site.name} runs ${site.edition}`
      : probe['if-set'] !== undefined && !site.hosts[probe['if-set']]
        ? `the entry needs hosts.${probe['if-set']}, which ${site.name} does not name`
        : probe['unless-set'] !== undefined && site.hosts[probe['unless-set']]
          ? `the entry is only for sites without hosts.${probe['unless-set']}, which ${site.name} names`
          : undefined;
  return {
    site: site.name,
    hosts,
    ...(useFallback ? { fallback } : {}),
    settings,
    in_use: inUse,
    expect: inUse ? probe.expect : 'blocked',
    ...(skipped ? { skipped } : {}),
  };
}
