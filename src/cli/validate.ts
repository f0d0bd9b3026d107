import type { Argv } from 'yargs';
import { UsageError } from '../core/usage-error.js';
import { expandProfiles } from '../profile/expand.js';
import { loadRun } from '../profile/load.js';
import { formatProblems } from '../profile/source.js';
import { withProfileArgument } from './profile-argument.js';

/** Add `reachgate validate <profile..> [--site FILE]`. */
export function validateCommand(parser: Argv): Argv {
  return parser.command(
    'validate <profile..>',
    'Check profiles (and a site) and report every problem with file:line:col; sends nothing',
    (command) =>
      withProfileArgument(command)
        .option('site', {
          type: 'string',
          describe: 'Also check this site file, and what the profiles expand to there',
          requiresArg: true,
        })
        .example(
          'reachgate validate tightgate/workstation --site site.yaml',
          'check a site file with a built-in profile',
        )
        .example('reachgate validate my-profile.yaml --site site.yaml', 'check both before a run'),
    async (argv) => {
      const loaded = await loadRun(argv.profile, argv.site);
      if (loaded.problems.length > 0) throw new UsageError(`not valid:\n${formatProblems(loaded.problems)}`);
      for (const profile of loaded.profiles) {
        const line = `ok: ${profile.name} (role ${profile.role}, ${profile.probes.length} probe entries, sha256 ${profile.hash.slice(0, 12)})`;
        if (!loaded.site) {
          process.stdout.write(`${line}\n`);
          continue;
        }
        const { plan, overlaps } = expandProfiles([profile], loaded.site, loaded.kinds);
        process.stdout.write(
          `${line}: ${plan.length} probes at site ${loaded.site.name}${overlaps.length ? `, ${overlaps.length} overlaps probed once` : ''}\n`,
        );
      }
      if (loaded.site)
        process.stdout.write(
          `ok: site ${loaded.site.name} (${loaded.site.file}, features: ${[...loaded.site.features].join(', ') || 'none'})\n`,
        );
    },
  );
}
