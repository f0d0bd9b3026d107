import type { ProbeKind } from '../core/probe-kind.js';
import type { Profile, ProfileProbe } from '../profile/profile.js';
import { portsOf } from '../profile/profile.js';
import { interpolate } from '../profile/interpolate.js';
import { DEFAULT_SETTINGS } from '../profile/site.js';
import { sweepPorts } from '../profile/sweep.js';
import { portRanges } from '../report/rows.js';
import { code, table } from './markdown.js';
import { PORT_TABLE_INVARIANTS, PORT_TABLE_ROWS, type PortTableRow } from './port-table.js';

/** One probe of a built-in profile, with its transport and ports worked out for the default settings. */
export interface CoveringProbe {
  profile: Profile;
  probe: ProfileProbe;
  transport: 'tcp' | 'udp' | 'icmp';
  /** Ports probed with the default settings; `sweep` for the site's sweep set; null for ICMP. */
  ports: number[] | 'sweep' | null;
}

/** What the built-in profiles prove of the port table, and every gap: a row or port no probe proves and no profile lists as not proven. */
export interface Coverage {
  probes: CoveringProbe[];
  gaps: string[];
}

const TRANSPORTS = ['tcp', 'udp'] as const;

/** Work out which probe proves which row of the port table, and what is missing. */
export function coverageOf(profiles: readonly Profile[], kinds: ReadonlyMap<string, ProbeKind>): Coverage {
  const probes = profiles.flatMap((profile) =>
    profile.probes.map((probe) => covering(profile, probe, kinds.get(probe.kind) as ProbeKind)),
  );
  const gaps: string[] = [];
  const known = new Set([
    ...PORT_TABLE_ROWS.map((row) => row.id),
    ...PORT_TABLE_INVARIANTS.map((invariant) => invariant.id),
  ]);
  for (const { profile, probe } of probes) {
    if (!known.has(probe.row))
      gaps.push(
        `${profile.name} probe ${probe.index + 1} names row \`${probe.row}\`, which is neither a row nor an invariant of the port table`,
      );
  }
  for (const row of PORT_TABLE_ROWS) gaps.push(...rowGaps(row, probes, profiles));
  for (const id of ['no-direct-internet', 'tightgate-only-intended']) {
    const negative = probes.filter(({ probe }) => probe.row === id && probe.expect === 'blocked');
    if (negative.length === 0) gaps.push(`invariant \`${id}\`: no built-in profile has a negative probe for it`);
  }
  return { probes, gaps };
}

function covering(profile: Profile, probe: ProfileProbe, kind: ProbeKind): CoveringProbe {
  const options = kind.parseOptions(interpolate(probe.options, DEFAULT_SETTINGS).value as Record<string, unknown>);
  const transport = kind.protocolFor?.(options) ?? kind.protocol;
  let ports: CoveringProbe['ports'];
  if (probe.ports !== undefined) ports = portsOf(interpolate(probe.ports, DEFAULT_SETTINGS).value);
  else if (transport === 'icmp') ports = null;
  else {
    const standard = kind.defaultPortFor?.(options) ?? kind.defaultPort;
    ports = standard === undefined ? [] : [standard];
  }
  return { profile, probe, transport, ports };
}

function rowGaps(row: PortTableRow, probes: readonly CoveringProbe[], profiles: readonly Profile[]): string[] {
  const mine = probes.filter(({ probe }) => probe.row === row.id);
  if (mine.length === 0) return [`row \`${row.id}\`: no built-in profile probes it`];
  const gaps: string[] = [];
  for (const { profile, probe } of mine) {
    if (profile.role !== row.from)
      gaps.push(`row \`${row.id}\` is a path from ${row.from}, but ${profile.name} (role ${profile.role}) probes it`);
    if (probe.feature !== row.feature)
      gaps.push(
        `row \`${row.id}\`: ${profile.name} probe ${probe.index + 1} has feature ${probe.feature ?? 'none'}, the port table ${row.feature ?? 'none'}`,
      );
  }
  const declared = profiles.some(
    (profile) => profile.role === row.from && profile.notProven.some((entry) => entry.row === row.id),
  );
  for (const transport of TRANSPORTS) {
    const missing = (row.ports[transport] ?? []).filter(
      (port) =>
        !mine.some(
          (candidate) =>
            candidate.transport === transport && Array.isArray(candidate.ports) && candidate.ports.includes(port),
        ),
    );
    if (missing.length > 0 && !declared)
      gaps.push(
        `row \`${row.id}\`: ${transport.toUpperCase()} ${missing.join(', ')} is not probed, and no profile lists it as not proven`,
      );
  }
  return gaps;
}

/** The Markdown page: the port table row by row with the probes that prove it, the invariants, each profile, and what is not proven. */
export function coverageReference(profiles: readonly Profile[], kinds: ReadonlyMap<string, ProbeKind>): string {
  const { probes, gaps } = coverageOf(profiles, kinds);
  const parts = [
    '# Port-table coverage',
    '',
    '<!-- Generated from the built-in profiles (profiles/tightgate/*.yaml) by `reachgate docs --out docs`; edit the profiles, not this file. -->',
    '',
    'Which probe of which built-in profile proves which row of the TightGate-Pro port table (the reference',
    'deployment in DESIGN.md), with what expectation, and what no probe here can prove.',
    '',
    '- **expectation** `reachable`: the path must answer (for UDP, with a real protocol answer); `blocked`: it must be',
    '  `filtered`, `prohibited`, `unreachable` or `closed`.',
    "- **feature**: the row is optional. When the site's `features` list does not name it, the same probe runs",
    '  expecting `blocked` (the closed-when-unused invariant), so an unused path is proven closed, not assumed.',
    '- **control**: for a negative probe, the role that must reach the same address. In the matrix a `blocked`',
    '  result whose control role did not see that address answer is `inconclusive`: an unreachable target proves',
    '  nothing about the firewall.',
    '- Ports and transports that depend on a site setting (`${settings.NAME}` in `ports` or `options`) are shown',
    "  with that setting's default.",
    "- `#` is the probe's position in its profile file; `reachgate profiles` prints the same list.",
    '',
    '## Rows',
    '',
    table(
      ['row', 'from → to', 'port table', 'proven by', 'expectation'],
      PORT_TABLE_ROWS.map((row) => {
        const mine = probes.filter(({ probe }) => probe.row === row.id);
        return [
          code(row.id),
          `${row.from} → ${row.to}`,
          row.portsText,
          mine.map(describeProbe).join('; ') || '**nothing**',
          row.feature ? `reachable when feature ${code(row.feature)} is in use, else blocked` : 'reachable',
        ];
      }),
    ),
    '## Invariants',
    '',
    table(
      ['invariant', 'from', 'must hold', 'proven by'],
      PORT_TABLE_INVARIANTS.map((invariant) => [
        code(invariant.id),
        invariant.from,
        invariant.mustHold,
        invariant.id === 'closed-when-unused'
          ? `every probe with a feature (${optionalRows(probes)}): expected blocked when the site does not use the feature`
          : probes
              .filter(({ probe }) => probe.row === invariant.id)
              .map(
                (entry) =>
                  `${describeProbe(entry)}, blocked${entry.probe.control ? `, control ${entry.probe.control}` : ''}`,
              )
              .join('; ') || '**nothing**',
      ]),
    ),
    ...controls(probes),
    '## By profile',
    '',
    ...profiles.flatMap((profile) =>
      profileSection(
        profile,
        probes.filter((entry) => entry.profile === profile),
      ),
    ),
    '## Not proven',
    '',
    'Each profile lists what its probes cannot prove; the list travels in every RunReport (`not_proven`) when its',
    'condition holds.',
    '',
    table(
      ['profile', 'row', 'when', 'what is not proven'],
      profiles.flatMap((profile) =>
        profile.notProven.map((entry) => [
          profile.name,
          code(entry.row),
          [
            entry.feature ? `feature ${code(entry.feature)} in use` : '',
            entry['if-set'] ? `the site names ${code(entry['if-set'])}` : '',
          ]
            .filter(Boolean)
            .join(', ') || 'always',
          entry.text,
        ]),
      ),
    ),
    '## Gaps',
    '',
    gaps.length === 0
      ? 'None: every row and invariant of the port table has a probe, and every transport or port that no probe proves is listed under "Not proven".'
      : gaps.map((gap) => `- ${gap}`).join('\n'),
  ];
  return `${parts.join('\n').trimEnd()}\n`;
}

/** "tightgate/tightgate #1: tcp 80, 443 → internet-canaries". */
function describeProbe({ profile, probe, transport, ports }: CoveringProbe): string {
  const kind = probe.kind === transport ? probe.kind : `${probe.kind}/${transport}`;
  const when = conditions(probe) ? ` (${conditions(probe)})` : '';
  return `${profile.name} #${probe.index + 1}: ${kind} ${portsText(probe, ports)} → ${probe.target.join(', ')}${when}`;
}

function portsText(probe: ProfileProbe, ports: CoveringProbe['ports']): string {
  if (ports === null) return 'echo';
  if (ports === 'sweep') return `sweep (common: ${sweepPorts('common').length} ports; full: 1-65535)`;
  const setting = typeof probe.ports === 'string' ? /\$\{settings\.([a-z-]+)\}/.exec(probe.ports)?.[1] : undefined;
  if (setting !== undefined) return `settings.${setting} (default ${portRanges(ports)})`;
  const list = ports.join(', ');
  return probe.ports === undefined ? `${list} (standard)` : list;
}

function conditions(probe: ProfileProbe): string {
  return [
    probe.fallback ? `else ${probe.fallback}` : '',
    probe['if-set'] ? `only when the site names ${probe['if-set']}` : '',
    probe['unless-set'] ? `only when the site names no ${probe['unless-set']}` : '',
    probe.edition ? `edition ${probe.edition} only` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

function optionalRows(probes: readonly CoveringProbe[]): string {
  const rows = new Map<string, string>();
  for (const { probe } of probes) if (probe.feature) rows.set(probe.row, probe.feature);
  return [...rows]
    .map(([row, feature]) => (row === feature ? code(row) : `${code(row)} (${code(feature)})`))
    .join(', ');
}

/** For each control role and target of the negative probes: which of the control role's probes reach the same hosts. */
function controls(probes: readonly CoveringProbe[]): string[] {
  const pairs = new Map<string, { role: string; variable: string; rows: Set<string> }>();
  for (const { probe } of probes) {
    if (!probe.control) continue;
    for (const variable of probe.target) {
      const key = `${probe.control}|${variable}`;
      const pair = pairs.get(key) ?? { role: probe.control, variable, rows: new Set<string>() };
      pair.rows.add(probe.row);
      pairs.set(key, pair);
    }
  }
  if (pairs.size === 0) return [];
  const rows = [...pairs.values()].map(({ role, variable, rows: negativeRows }) => {
    const positive = probes.filter(
      ({ profile, probe }) =>
        profile.role === role &&
        probe.expect === 'reachable' &&
        (probe.target.includes(variable) || probe.fallback === variable),
    );
    return [
      [...negativeRows].map(code).join(', '),
      variable,
      role,
      positive.map(describeProbe).join('; ') || '**no probe of that role reaches them**',
    ];
  });
  return [
    '## Positive controls',
    '',
    'A negative probe with a control passes in the matrix only when an agent of the control role saw the same',
    'address answer in its latest report. These probes of the control role give it that chance:',
    '',
    table(['negative rows', 'target', 'control role', "control role's probes of the same hosts"], rows),
  ];
}

function profileSection(profile: Profile, probes: readonly CoveringProbe[]): string[] {
  const lines = [`### ${profile.name} (role ${profile.role})`, '', profile.description.trim(), ''];
  lines.push(
    table(
      ['#', 'row', 'kind', 'transport', 'ports', 'target', 'expectation', 'feature', 'control', 'note'],
      probes.map((entry) => {
        const { probe, transport, ports } = entry;
        return [
          String(probe.index + 1),
          code(probe.row),
          probe.kind,
          transport,
          portsText(probe, ports),
          `${probe.target.join(', ')}${conditions(probe) ? ` (${conditions(probe)})` : ''}`,
          probe.feature ? `${probe.expect} when in use, else blocked` : probe.expect,
          probe.feature ?? '',
          probe.control ?? '',
          [optionsText(probe), probe.note ?? ''].filter(Boolean).join('; '),
        ];
      }),
    ),
  );
  return lines;
}

function optionsText(probe: ProfileProbe): string {
  const entries = Object.entries(probe.options);
  if (entries.length === 0) return '';
  return `options ${entries.map(([name, value]) => code(`${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)).join(', ')}`;
}
