import { closeSync, openSync, writeSync } from 'node:fs';
import type { Argv } from 'yargs';
import { exitCodeOf } from '../core/verdict.js';
import { parseResolver } from '../net/resolve.js';
import { HeldRun } from '../report/held-run.js';
import { formatJunit } from '../report/junit.js';
import { formatTap } from '../report/tap.js';
import { formatNagios, nagiosStatus, NAGIOS } from '../report/nagios.js';
import { loadValidRun, streamProfiles } from '../run/profiles.js';
import { parseRate, RUN_OPTIONS, warnOnStderr, wholeNumber } from './run-options.js';
import { withProfileArgument } from './profile-argument.js';
import { outputOptions } from './output-options.js';

const FORMATS = ['table', 'json', 'junit', 'tap', 'nagios'] as const;
type Format = (typeof FORMATS)[number];

interface RunArgs {
  profile: string[];
  site: string;
  format: Format;
  out?: string;
  agent?: string;
  concurrency: number;
  rate?: string;
  resolver?: string;
}

/** Add `reachgate run <profile..> --site FILE`. */
export function runCommand(parser: Argv): Argv {
  return parser.command<RunArgs>(
    'run <profile..>',
    'Run role profiles against a site and print the pass/fail matrix, row by row',
    (command) =>
      withProfileArgument(command)
        .options({
          site: {
            type: 'string',
            demandOption: true,
            describe: 'The site file: addresses and features in use',
            requiresArg: true,
          },
          ...outputOptions(FORMATS),
          agent: {
            type: 'string',
            describe: 'Agent name in the report (default: the host name)',
            requiresArg: true,
            group: 'Output:',
          },
          ...RUN_OPTIONS,
        })
        .example('reachgate run tightgate/workstation --site site.yaml', 'acceptance test of a workstation')
        .example(
          'reachgate run tightgate/tightgate --site site.yaml --format junit --out tightgate.xml',
          'for CI, with the table on screen',
        )
        .example('reachgate run tightgate/monitoring --site site.yaml --format nagios', 'as a Nagios check (exit 0-3)'),
    async (argv) => {
      process.exitCode = await run(argv);
    },
  );
}

async function run(argv: RunArgs): Promise<number> {
  const concurrency = wholeNumber(argv.concurrency, '--concurrency', 1, 65_535);
  const ratePerSecond = argv.rate === undefined ? undefined : parseRate(argv.rate);
  const resolver = argv.resolver === undefined ? undefined : parseResolver(argv.resolver);
  const loaded = await loadValidRun(argv.profile, argv.site);
  let progress: ReturnType<typeof startProgress> | undefined;
  // Results are held as JSON texts until the report is written: a `sweep: full` run has 65,535 of them.
  const held = new HeldRun();
  const streamed = await streamProfiles(
    loaded,
    {
      ...(argv.agent ? { agent: argv.agent } : {}),
      concurrency,
      ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
      ...(resolver === undefined ? {} : { resolver }),
      onPlanned: (total) => {
        progress = startProgress(total);
      },
      onResult: () => progress?.tick(),
      warn: warnOnStderr,
    },
    (result, index) => held.add(result, index),
  );
  held.end(streamed.head, streamed.finishedAt, streamed.summary);
  progress?.stop();
  const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
  if (argv.out) {
    writeReport(held, argv.format, argv.out);
    process.stdout.write(held.table(colour));
  } else if (argv.format === 'table') {
    process.stdout.write(held.table(colour));
  } else {
    render(held, argv.format, (chunk) => process.stdout.write(chunk));
  }
  return argv.format === 'nagios' ? NAGIOS[nagiosStatus(held)] : exitCodeOf(held.summary);
}

/** Write the report in its format to a file, chunk by chunk. */
function writeReport(held: HeldRun, format: Format, file: string): void {
  const fd = openSync(file, 'w');
  try {
    render(held, format, (chunk) => writeSync(fd, chunk));
  } finally {
    closeSync(fd);
  }
}

function render(held: HeldRun, format: Format, write: (chunk: string) => void): void {
  switch (format) {
    case 'json':
      return held.writeJson(write);
    case 'junit':
      return write(formatJunit(held.report()));
    case 'tap':
      return write(formatTap(held.report()));
    case 'nagios':
      return write(formatNagios(held.report()));
    case 'table':
      return write(held.table(false));
  }
}

/** Progress on stderr, only on a terminal and only once a run has taken more than a second. */
function startProgress(total: number): { tick: () => void; stop: () => void } {
  let done = 0;
  if (!process.stderr.isTTY)
    return {
      tick: () => {
        done += 1;
      },
      stop: () => {},
    };
  const show = (): void => {
    process.stderr.write(`\r${done}/${total} probes done`);
  };
  let timer: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    show();
    timer = setInterval(show, 250);
  }, 1000);
  return {
    tick: () => {
      done += 1;
    },
    stop: () => {
      clearTimeout(first);
      if (timer) {
        clearInterval(timer);
        process.stderr.write('\r\x1b[K');
      }
    },
  };
}
