import type { ProbeKind, ProbeSpec } from '../core/probe-kind.js';
import type { Expectation, Overlap } from '../core/result.js';
import { parseDuration } from '../core/duration.js';
import { formatEndpoint } from '../net/target.js';
import type { Profile, ProfileProbe } from './profile.js';
import { portsOf } from './profile.js';
import type { Site } from './site.js';
import { sweepPorts } from './sweep.js';
import { interpolate } from './interpolate.js';

/** A part of the port table that no probe here can prove. */
export interface NotProven {
  row: string;
  text: string;
}

/** A plan with what was left out of it and why. */
export interface Expansion {
  plan: ProbeSpec[];
  overlaps: Overlap[];
  notProven: NotProven[];
}

interface Candidate {
  spec: ProbeSpec;
  sweep: boolean;
  inUse: boolean;
}

/** Expand profiles for a site into one plan: features decide expectations, overlaps are resolved once. */
export function expandProfiles(
  profiles: readonly Profile[],
  site: Site,
  kinds: ReadonlyMap<string, ProbeKind>,
): Expansion {
  const candidates: Candidate[] = [];
  const notProven: NotProven[] = [];
  for (const profile of profiles) {
    for (const probe of profile.probes) {
      if (probe.edition !== undefined && probe.edition !== site.edition) continue;
      if (probe['if-set'] !== undefined && !site.hosts[probe['if-set']]) continue;
      if (probe['unless-set'] !== undefined && site.hosts[probe['unless-set']]) continue;
      candidates.push(...expandProbe(profile, probe, site, kinds.get(probe.kind) as ProbeKind));
    }
    for (const entry of profile.notProven) {
      if (entry.feature !== undefined && !site.features.has(entry.feature)) continue;
      if (entry['if-set'] !== undefined && !site.hosts[entry['if-set']]) continue;
      notProven.push({ row: entry.row, text: entry.text });
    }
  }
  return { ...resolveOverlaps(candidates), notProven };
}

function expandProbe(profile: Profile, probe: ProfileProbe, site: Site, kind: ProbeKind): Candidate[] {
  const inUse = probe.feature === undefined || site.features.has(probe.feature);
  // An optional row the site does not use must be closed: the same probe, expected blocked.
  const expect: Expectation = inUse ? probe.expect : 'blocked';
  const hosts = probe.target.flatMap((variable) => site.hosts[variable] ?? []);
  const targets = hosts.length > 0 ? hosts : (site.hosts[probe.fallback ?? 'internet-canaries'] ?? []);
  const options = kind.parseOptions(interpolate(probe.options, site.settings).value as Record<string, unknown>);
  const ports = portsFor(probe, site, kind, options);
  const protocol = kind.protocolFor?.(options) ?? kind.protocol;
  const timeoutMs = parseDuration(probe.timeout ?? site.settings.timeout, 'timeout');
  const note = [
    probe.note,
    inUse ? undefined : `feature ${probe.feature} is not in use at ${site.name}: this path must be closed`,
  ]
    .filter(Boolean)
    .join('; ');
  return targets.flatMap((host) =>
    ports.map((port): Candidate => ({
      sweep: probe.ports === 'sweep',
      inUse,
      spec: {
        id: `${profile.role}/${probe.row}/${probe.kind}/${port === null ? host : formatEndpoint(host, port)}`,
        row: probe.row,
        kind: probe.kind,
        target: { host, address: null, port, protocol },
        expect,
        ...(expect === 'blocked' && probe.blocked && probe.blocked !== 'any' ? { blocked: probe.blocked } : {}),
        options,
        timeoutMs,
        attempts: probe.attempts ?? kind.defaultAttempts,
        ...(probe.control && expect === 'blocked' ? { control: probe.control } : {}),
        ...(probe.confirm ? { confirm: probe.confirm } : {}),
        ...(note ? { note } : {}),
        ...(probe.ports === 'sweep' ? { sweep: true } : {}),
      },
    })),
  );
}

function portsFor(probe: ProfileProbe, site: Site, kind: ProbeKind, options: unknown): Array<number | null> {
  if (probe.ports === undefined)
    return kind.protocol === 'icmp' ? [null] : [kind.defaultPortFor?.(options) ?? kind.defaultPort ?? null];
  const ports = portsOf(interpolate(probe.ports, site.settings).value);
  return ports === 'sweep' ? sweepPorts(site.sweep) : ports;
}

/**
 * One probe per target, port and transport. Rows named for the port come before sweeps; where
 * expectations differ, a row in use that expects the path open wins, because the site uses it.
 */
function resolveOverlaps(candidates: Candidate[]): { plan: ProbeSpec[]; overlaps: Overlap[] } {
  const ordered = [...candidates.filter((c) => !c.sweep), ...candidates.filter((c) => c.sweep)];
  const kept = new Map<string, Candidate>();
  const overlaps: Overlap[] = [];
  for (const candidate of ordered) {
    const { host, port, protocol } = candidate.spec.target;
    const key = `${host}|${port}|${protocol}`;
    const holder = kept.get(key);
    if (!holder) {
      kept.set(key, candidate);
      continue;
    }
    const winner =
      candidate.inUse && candidate.spec.expect === 'reachable' && holder.spec.expect === 'blocked' ? candidate : holder;
    const loser = winner === candidate ? holder : candidate;
    kept.set(key, winner);
    overlaps.push({
      row: loser.spec.row as string,
      kept: winner.spec.row as string,
      target: host,
      port,
      protocol,
      reason:
        winner.spec.expect === loser.spec.expect
          ? `also covered by row ${winner.spec.row}, probed once`
          : `row ${winner.spec.row} is in use and expects it ${winner.spec.expect}; row ${loser.spec.row} ` +
            `would expect ${loser.spec.expect}: probed once, as ${winner.spec.row}`,
    });
  }
  const survivors = new Set(kept.values());
  return { plan: candidates.filter((c) => survivors.has(c)).map((c) => c.spec), overlaps };
}
