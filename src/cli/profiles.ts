import type { Argv } from 'yargs';
import { builtInProfiles } from '../profile/built-in.js';
import { loadProfile, type Profile } from '../profile/profile.js';

/** Add `reachgate profiles`. */
export function profilesCommand(parser: Argv): Argv {
  return parser.command(
    'profiles',
    'List the built-in profiles, their roles, and which rows and invariants each proves',
    (command) =>
      command
        .example(
          'reachgate profiles',
          'every built-in profile: each row it proves, with kind, ports, expectation, feature and control',
        )
        .example('reachgate validate tightgate/workstation --site site.yaml', 'then check one against your site'),
    async () => {
      for (const name of builtInProfiles()) {
        const { profile, source } = await loadProfile(name);
        if (!profile) {
          process.stdout.write(
            `${name}: not valid (${source.problems.length} problems; run reachgate validate ${name})\n\n`,
          );
          continue;
        }
        process.stdout.write(describeProfile(profile));
      }
    },
  );
}

function describeProfile(profile: Profile): string {
  const lines = [`${profile.name}  (role ${profile.role})`, `  ${profile.description.trim()}`];
  const rows = new Map<string, string[]>();
  for (const probe of profile.probes) {
    const ports =
      probe.ports === undefined ? '' : ` ${Array.isArray(probe.ports) ? probe.ports.join(',') : String(probe.ports)}`;
    const what = [
      `${probe.kind}${ports} -> ${probe.target.join(', ')}`,
      probe.expect === 'blocked' ? ' must be blocked' : '',
      probe.feature ? ` [feature ${probe.feature}; blocked when unused]` : '',
      probe.control ? ` (control: ${probe.control})` : '',
    ].join('');
    rows.set(probe.row, [...(rows.get(probe.row) ?? []), what]);
  }
  for (const [row, probes] of rows) lines.push(`  ${row}: ${probes.join('; ')}`);
  for (const entry of profile.notProven) lines.push(`  not proven, ${entry.row}: ${entry.text}`);
  return `${lines.join('\n')}\n\n`;
}
