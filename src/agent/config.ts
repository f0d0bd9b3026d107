import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseDuration } from '../core/duration.js';
import { isUsageError, UsageError } from '../core/usage-error.js';
import { loadRun } from '../profile/load.js';
import type { Site } from '../profile/site.js';
import { formatProblems, YamlSource } from '../profile/source.js';
import { checkSchema } from '../profile/schema-check.js';
import { DEFAULT_CONCURRENCY } from '../run/execute.js';
import type { ValidRun } from '../run/profiles.js';

/** When the spool is full: most reports kept, or most bytes used. */
export interface SpoolLimit {
  count?: number;
  bytes?: number;
}

/** A valid agent configuration, with paths resolved against the config file's folder. */
export interface AgentConfig {
  file: string;
  name: string;
  /** The profiles' role (joined with + for several); the config's `role` must agree. */
  role: string;
  profiles: string[];
  site: string;
  /** Where reports are posted: the coordinator's /api/v1/reports. */
  reportsUrl: string;
  tokenFile: string;
  caFile?: string;
  intervalMs: number;
  jitterMs: number;
  spoolDir: string;
  spoolLimit: SpoolLimit;
  deliveryTimeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  concurrency: number;
  /** Watch these ports for probe nonces and post receipts every intervalMs (the `responder:` section). */
  responder?: { udp: number[]; tcp: number[]; intervalMs: number };
}

interface RawConfig {
  name?: string;
  role?: string;
  profile: string | string[];
  site: string;
  coordinator: string;
  'token-file': string;
  'ca-file'?: string;
  interval?: string;
  jitter?: string;
  spool: string;
  'spool-max'?: number | string;
  'delivery-timeout'?: string;
  'retry-min'?: string;
  'retry-max'?: string;
  concurrency?: number;
  responder?: { udp?: number[]; tcp?: number[]; interval?: string };
}

const MIB = 1024 * 1024;
const DURATION = /^\d+(\.\d+)?(ms|s|m)?$/;

/** Load an agent config with its profiles and site; every problem of every file is one UsageError with file:line:col. */
export async function loadAgentConfig(file: string): Promise<{ config: AgentConfig; run: ValidRun }> {
  const source = YamlSource.read(file);
  if (source.problems.length > 0) throw invalid(source);
  const raw = source.data() as RawConfig;
  await checkSchema(source, raw, 'agent', [/^\/profile(\/|$)/, /^\/spool-max$/, /^\/coordinator$/]);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(source);
  const profiles = profileList(raw.profile, source);
  const spoolLimit = spoolLimitOf(raw['spool-max'] ?? '256MiB', source);
  const duration = (key: keyof RawConfig, fallback: string): number => {
    const text = raw[key] ?? fallback;
    if (typeof text !== 'string') return 0;
    try {
      return parseDuration(text, key);
    } catch (error) {
      if (!isUsageError(error)) throw error;
      // A malformed duration was already reported by the schema; this is the range check.
      if (DURATION.test(text)) source.report([key], `\`${key}\` must be more than 0 and at most 1h, got \`${text}\``);
      return 0;
    }
  };
  const intervalMs = duration('interval', '5m');
  // No jitter at all is a valid choice, though parseDuration rejects a zero deadline.
  const jitterMs =
    raw.jitter === undefined
      ? Math.round(intervalMs / 10)
      : /^0+(\.0+)?(ms|s|m)?$/.test(String(raw.jitter))
        ? 0
        : duration('jitter', '0s');
  const deliveryTimeoutMs = duration('delivery-timeout', '30s');
  const retryMinMs = duration('retry-min', '2s');
  const retryMaxMs = duration('retry-max', '5m');
  if (jitterMs >= intervalMs && intervalMs > 0)
    source.report(['jitter'], `\`jitter\` (${raw.jitter}) must be less than \`interval\` (${raw.interval ?? '5m'})`);
  if (retryMinMs > retryMaxMs && retryMaxMs > 0)
    source.report(
      ['retry-min'],
      `\`retry-min\` (${raw['retry-min']}) must not be more than \`retry-max\` (${raw['retry-max'] ?? '5m'})`,
    );
  const responder = responderOf(raw.responder, source);
  let reportsUrl = '';
  try {
    const base = new URL(String(raw.coordinator));
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('not http');
    reportsUrl = new URL(`${base.pathname.replace(/\/+$/, '')}/api/v1/reports`, base).href;
  } catch {
    if (raw.coordinator !== undefined)
      source.report(
        ['coordinator'],
        `\`coordinator\` must be an https:// (or http://) URL like https://coordinator.example:8443, got \`${String(raw.coordinator)}\``,
      );
  }
  if (source.problems.length > 0) throw invalid(source);

  const folder = dirname(resolve(file));
  const site = resolve(folder, raw.site);
  const loaded = await loadRun(
    profiles.map((name) => (/\.ya?ml$/.test(name) ? resolve(folder, name) : name)),
    site,
  );
  const role = [...new Set(loaded.profiles.map((profile) => profile.role))].join('+');
  if (loaded.problems.length === 0 && raw.role !== undefined && raw.role !== role) {
    source.report(
      ['role'],
      `\`role\` is \`${raw.role}\`, but the profiles are for role \`${role}\`: name the matching profile, or leave \`role\` out`,
    );
  }
  const problems = [...source.problems, ...loaded.problems];
  if (problems.length > 0 || !loaded.site) {
    throw new UsageError(
      `the agent config, its profiles or its site are not valid; nothing was probed:\n${formatProblems(problems)}`,
    );
  }
  return {
    config: {
      file,
      name: raw.name ?? hostname(),
      role,
      profiles,
      site,
      reportsUrl,
      tokenFile: resolve(folder, raw['token-file']),
      ...(raw['ca-file'] === undefined ? {} : { caFile: resolve(folder, raw['ca-file']) }),
      intervalMs,
      jitterMs,
      spoolDir: resolve(folder, raw.spool),
      spoolLimit,
      deliveryTimeoutMs,
      retryMinMs,
      retryMaxMs,
      concurrency: raw.concurrency ?? DEFAULT_CONCURRENCY,
      ...(responder ? { responder } : {}),
    },
    run: { ...loaded, site: loaded.site as Site },
  };
}

function invalid(source: YamlSource): UsageError {
  return new UsageError(`the agent config is not valid; nothing was probed:\n${formatProblems(source.problems)}`);
}

function profileList(value: unknown, source: YamlSource): string[] {
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : null;
  if (value === undefined) return [];
  if (list === null || list.length === 0 || list.some((name) => typeof name !== 'string' || name === '')) {
    source.report(
      ['profile'],
      '`profile` must name a profile (tightgate/workstation or a YAML file) or list several, e.g. [tightgate/tightgate, tightgate/dns]',
    );
    return [];
  }
  return list as string[];
}

function spoolLimitOf(value: number | string, source: YamlSource): SpoolLimit {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return { count: value };
  const match = typeof value === 'string' ? /^(\d+) ?MiB$/.exec(value) : null;
  if (match && Number(match[1]) >= 1) return { bytes: Number(match[1]) * MIB };
  source.report(
    ['spool-max'],
    `\`spool-max\` must be a number of reports (like 1000) or a size (like 256MiB), got \`${String(value)}\``,
  );
  return {};
}

function responderOf(raw: RawConfig['responder'], source: YamlSource): AgentConfig['responder'] {
  if (raw === undefined || raw === null || typeof raw !== 'object') return undefined;
  const udp = raw.udp ?? [];
  const tcp = raw.tcp ?? [];
  if (udp.length + tcp.length === 0) source.report(['responder'], '`responder` must name ports to watch: udp, tcp');
  let intervalMs = 10_000;
  if (raw.interval !== undefined) {
    try {
      intervalMs = parseDuration(raw.interval, 'responder.interval');
    } catch (error) {
      if (!isUsageError(error)) throw error;
      source.report(
        ['responder', 'interval'],
        `\`interval\` must be more than 0 and at most 1h, got \`${raw.interval}\``,
      );
    }
  }
  return { udp, tcp, intervalMs };
}
