import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockedMode, Expectation } from '../core/result.js';
import type { ProbeKind } from '../core/probe-kind.js';
import { kindNames, loadKind } from './kinds.js';
import { isUsageError } from '../core/usage-error.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { parsePorts } from '../net/target.js';
import { YamlSource } from './source.js';
import { checkSchema } from './schema-check.js';
import { didYouMean } from './did-you-mean.js';
import { interpolate } from './interpolate.js';
import { DEFAULT_SETTINGS, FEATURES, HOST_VARIABLES, type Feature, type SiteSettings } from './site.js';

/** One probe of a profile, as written: site-neutral. */
export interface ProfileProbe {
  row: string;
  kind: string;
  target: string[];
  fallback?: string;
  /** Raw ports as written (number, list, string or `sweep`); parsed once the site is known. */
  ports?: unknown;
  expect: Expectation;
  /** With expect blocked: a drop, a reject, or either proves it. */
  blocked?: BlockedMode;
  feature?: Feature;
  edition?: 'standard' | 'cc-1.4';
  'if-set'?: string;
  'unless-set'?: string;
  control?: string;
  /** The responder role whose receipt proves this one-way row. */
  confirm?: string;
  options: Record<string, unknown>;
  timeout?: string;
  attempts?: number;
  note?: string;
  /** Index in the file's probe list, for positions. */
  index: number;
}

/** A loaded, valid profile. */
export interface Profile {
  name: string;
  file: string;
  hash: string;
  role: string;
  description: string;
  notProven: Array<{ row: string; feature?: Feature; 'if-set'?: string; text: string }>;
  probes: ProfileProbe[];
  source: YamlSource;
}

/** Where a profile argument points: a built-in name like `tightgate/workstation`, or a YAML file. */
export function profileFile(name: string): string {
  if (/\.ya?ml$/.test(name) || existsSync(name)) return name;
  return join(PACKAGE_ROOT, 'profiles', `${name}.yaml`);
}

interface RawProbe extends Omit<ProfileProbe, 'target' | 'index' | 'options' | 'expect'> {
  target: string | string[];
  expect?: Expectation;
  options?: Record<string, unknown>;
}

interface RawProfile {
  profile?: string;
  role: string;
  description?: string;
  'not-proven'?: Profile['notProven'];
  probes: RawProbe[];
}

/** Load a profile; problems are recorded on the source and the profile is null when there was any. */
export async function loadProfile(
  name: string,
  settings: Partial<SiteSettings> = DEFAULT_SETTINGS,
): Promise<{ source: YamlSource; profile: Profile | null }> {
  const file = profileFile(name);
  const source = YamlSource.read(file);
  if (source.problems.length > 0) return { source, profile: null };
  const raw = source.data() as RawProfile;
  // loadKinds checks `kind` itself: an unknown kind gets a did-you-mean rather than the schema's list.
  await checkSchema(source, raw, 'profile', [/^\/probes\/\d+\/(ports|target|kind)(\/|$)/]);
  if (source.problems.length > 0 && !Array.isArray(raw?.probes)) return { source, profile: null };
  const kinds = await loadKinds(raw.probes, source);
  const probes = raw.probes.map((probe, index) => checkProbe(probe, index, source, kinds, settings));
  raw['not-proven']?.forEach((entry, index) => {
    if (entry.feature !== undefined && !FEATURES.includes(entry.feature))
      source.report(['not-proven', index, 'feature'], unknownFeature(entry.feature));
  });
  if (source.problems.length > 0) return { source, profile: null };
  return {
    source,
    profile: {
      name: raw.profile ?? name.replace(/\.ya?ml$/, ''),
      file,
      hash: createHash('sha256').update(source.text).digest('hex'),
      role: raw.role,
      description: raw.description ?? '',
      notProven: raw['not-proven'] ?? [],
      probes: probes as ProfileProbe[],
      source,
    },
  };
}

async function loadKinds(probes: RawProbe[], source: YamlSource): Promise<Map<string, ProbeKind>> {
  const known = kindNames();
  const kinds = new Map<string, ProbeKind>();
  for (const [index, probe] of probes.entries()) {
    const kind: unknown = probe?.kind;
    if (kind !== undefined && typeof kind !== 'string') {
      source.report(['probes', index, 'kind'], `\`kind\` must be a string, got \`${JSON.stringify(kind)}\``);
    }
    if (typeof probe?.kind !== 'string' || kinds.has(probe.kind)) continue;
    if (!known.includes(probe.kind)) {
      source.report(
        ['probes', index, 'kind'],
        `unknown probe kind \`${probe.kind}\`${didYouMean(probe.kind, known)}; known kinds: ${known.join(', ')}`,
      );
      continue;
    }
    kinds.set(probe.kind, await loadKind(probe.kind));
  }
  return kinds;
}

function unknownFeature(feature: string): string {
  return `unknown feature \`${feature}\`${didYouMean(feature, FEATURES)}; features are: ${FEATURES.join(', ')}`;
}

function checkProbe(
  probe: RawProbe,
  index: number,
  source: YamlSource,
  kinds: Map<string, ProbeKind>,
  settings: Partial<SiteSettings>,
): ProfileProbe | null {
  if (probe === null || typeof probe !== 'object') return null;
  const at = (...path: Array<string | number>) => ['probes', index, ...path];
  const variables = Object.keys(HOST_VARIABLES);
  const targets = typeof probe.target === 'string' ? [probe.target] : Array.isArray(probe.target) ? probe.target : [];
  if (targets.length === 0)
    source.report(
      at('target'),
      '`target` must name a site variable or a list of them, e.g. tightgate or [ntp-servers]',
    );
  targets.forEach((target, i) => {
    if (typeof target !== 'string' || !variables.includes(target)) {
      source.report(
        typeof probe.target === 'string' ? at('target') : at('target', i),
        `unknown variable \`${String(target)}\`${didYouMean(String(target), variables)}; site variables are: ${variables.join(', ')}`,
      );
    }
  });
  for (const key of ['fallback', 'if-set', 'unless-set'] as const) {
    const variable = probe[key];
    if (variable !== undefined && !variables.includes(variable))
      source.report(at(key), `unknown variable \`${variable}\`${didYouMean(variable, variables)}`);
  }
  if (probe.feature !== undefined && !FEATURES.includes(probe.feature))
    source.report(at('feature'), unknownFeature(probe.feature));
  if (probe.ports !== undefined) checkPorts(probe.ports, at('ports'), source, settings);
  const kind = kinds.get(probe.kind);
  if (kind) checkOptions(kind, probe.options ?? {}, at('options'), source, settings);
  return {
    ...probe,
    target: targets,
    expect: probe.expect ?? 'reachable',
    options: probe.options ?? {},
    index,
  };
}

/** Parse a profile's ports (after settings are filled in): `sweep`, or concrete ports. */
export function portsOf(raw: unknown): number[] | 'sweep' {
  if (raw === 'sweep') return 'sweep';
  const items = Array.isArray(raw) ? raw : [raw];
  return [
    ...new Set(
      items.flatMap((item) => (typeof item === 'number' ? parsePorts(String(item)) : parsePorts(String(item)))),
    ),
  ];
}

function checkPorts(
  raw: unknown,
  path: Array<string | number>,
  source: YamlSource,
  settings: Partial<SiteSettings>,
): void {
  const filled = interpolate(raw, settings);
  for (const name of filled.unknown) source.report(path, unknownSetting(name));
  if (filled.unknown.length > 0) return;
  const items = Array.isArray(filled.value) ? filled.value : [filled.value];
  items.forEach((item, i) => {
    const where = Array.isArray(filled.value) ? [...path, i] : path;
    if (typeof item !== 'number' && typeof item !== 'string') {
      source.report(
        where,
        `a port must be a number, a list like 22,5900, a range like 8000-8100, or sweep; got \`${JSON.stringify(item)}\``,
      );
      return;
    }
    if (item === 'sweep' && !Array.isArray(filled.value)) return;
    try {
      parsePorts(String(item));
    } catch (error) {
      if (!isUsageError(error)) throw error;
      source.report(where, error.message.replace(/ in `[^`]*`/, ''));
    }
  });
}

function unknownSetting(name: string): string {
  const known = Object.keys(DEFAULT_SETTINGS);
  return `unknown setting \`settings.${name}\`${didYouMean(name, known)}`;
}

function checkOptions(
  kind: ProbeKind,
  options: Record<string, unknown>,
  path: Array<string | number>,
  source: YamlSource,
  settings: Partial<SiteSettings>,
): void {
  if (options === null || typeof options !== 'object') return;
  const known = Object.keys(kind.cliOptions);
  let ok = true;
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      source.report(
        [...path, key],
        `the ${kind.name} probe has no option \`${key}\`${didYouMean(key, known)}; its options are: ${known.join(', ') || 'none'}`,
        true,
      );
      ok = false;
    }
  }
  const filled = interpolate(options, { ...DEFAULT_SETTINGS, ...settings });
  for (const name of filled.unknown) {
    source.report(path, unknownSetting(name));
    ok = false;
  }
  if (!ok) return;
  try {
    kind.parseOptions(filled.value as Record<string, unknown>);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    source.report(path, `${kind.name} options: ${error.message}`);
  }
}
