import type { Argv } from 'yargs';
import { UsageError } from '../core/usage-error.js';
import { parseResolver } from '../net/resolve.js';
import { fromCoordinator, fromLive, fromReports } from '../explain/gather.js';
import { readGuide } from '../explain/guide.js';
import { buildStory } from '../explain/story.js';
import { formatStory } from '../explain/text.js';
import { COORDINATOR_SOURCE_OPTIONS } from './coordinator-options.js';
import { parseRate, RUN_OPTIONS, warnOnStderr, wholeNumber } from './run-options.js';

interface ExplainArgs {
  row: string;
  report?: string[];
  baseline?: string;
  coordinator?: string;
  'token-file'?: string;
  ca?: string;
  agent?: string;
  profile?: string[];
  site?: string;
  json: boolean;
  concurrency: number;
  rate?: string;
  resolver?: string;
}

/** Add `reachgate explain ROW`: one row's story, from RunReport files, the coordinator, or probed live. */
export function explainCommand(parser: Argv): Argv {
  return parser.command<ExplainArgs>(
    'explain <row>',
    "Tell one row's story step by step: entries, resolution, route, what was sent and came back, control, verdict, next",
    (command) =>
      command
        .positional('row', { type: 'string', demandOption: true, describe: 'The port-table row, e.g. viewer' })
        .options({
          report: {
            type: 'string',
            array: true,
            requiresArg: true,
            describe: "RunReport files: the row's agent, and the control role's reports to judge the control",
            group: 'Source:',
          },
          baseline: {
            type: 'string',
            requiresArg: true,
            describe: 'An accepted matrix or baseline to compare the verdict with (with --report)',
            group: 'Source:',
          },
          ...COORDINATOR_SOURCE_OPTIONS,
          'token-file': { ...COORDINATOR_SOURCE_OPTIONS['token-file'], alias: 'token' },
          agent: {
            type: 'string',
            requiresArg: true,
            describe:
              'The agent whose row to explain (with --coordinator; with --report when several hold the row); live: its name',
            group: 'Source:',
          },
          profile: {
            type: 'string',
            array: true,
            requiresArg: true,
            describe:
              'Profiles (built-in names or YAML files): probe the row live with --site, or show the entries behind a report',
            group: 'Source:',
          },
          site: { type: 'string', requiresArg: true, describe: 'The site file (live: required)', group: 'Source:' },
          json: { type: 'boolean', default: false, describe: 'Print the story as one JSON document', group: 'Output:' },
          ...RUN_OPTIONS,
        })
        .conflicts('coordinator', 'report')
        .conflicts('baseline', 'coordinator')
        .check((argv) => {
          if (argv.coordinator === undefined && argv.report === undefined && argv.profile === undefined)
            throw new UsageError(
              'name a source: --report FILE..., --coordinator URL --token-file FILE --agent NAME, or --profile P --site FILE',
            );
          if (argv.coordinator !== undefined && (argv['token-file'] === undefined || argv.agent === undefined))
            throw new UsageError('--coordinator needs --token-file (a viewer token) and --agent NAME');
          if (argv.report === undefined && argv.coordinator === undefined && argv.site === undefined)
            throw new UsageError('a live explain needs the site: --profile PROFILE --site FILE');
          return true;
        })
        .example('reachgate explain viewer --report ws.json', 'from a RunReport (`reachgate run ... --format json`)')
        .example(
          'reachgate explain no-direct-internet --report ws.json tg.json',
          "with the control role's report, to judge the control",
        )
        .example(
          'reachgate explain viewer --coordinator https://coordinator:8443 --token-file viewer.token --agent ws-017',
          "from the coordinator: the cell, its control and the baseline's verdict",
        )
        .example(
          'reachgate explain viewer --profile tightgate/workstation --site site.yaml',
          'probe the row live here',
        ),
    async (argv) => {
      const files = {
        ...(argv.profile ? { profiles: argv.profile } : {}),
        ...(argv.site ? { site: argv.site } : {}),
      };
      const evidence =
        argv.report !== undefined
          ? await fromReports(argv.report, argv.row, {
              ...files,
              ...(argv.agent ? { agent: argv.agent } : {}),
              ...(argv.baseline ? { baseline: argv.baseline } : {}),
              now: new Date(),
            })
          : argv.coordinator !== undefined
            ? await fromCoordinator(
                { coordinator: argv.coordinator, tokenFile: argv['token-file']!, caFile: argv.ca },
                argv.agent!,
                argv.row,
                files,
              )
            : await fromLive(argv.row, {
                profiles: argv.profile!,
                site: argv.site!,
                ...(argv.agent ? { agent: argv.agent } : {}),
                concurrency: wholeNumber(argv.concurrency, '--concurrency', 1, 65_535),
                ...(argv.rate === undefined ? {} : { ratePerSecond: parseRate(argv.rate) }),
                ...(argv.resolver === undefined ? {} : { resolver: parseResolver(argv.resolver) }),
                warn: warnOnStderr,
              });
      const story = buildStory(evidence, readGuide());
      process.stdout.write(argv.json ? `${JSON.stringify(story)}\n` : formatStory(story));
      process.exitCode = story.verdict === 'pass' ? 0 : 1;
    },
  );
}
