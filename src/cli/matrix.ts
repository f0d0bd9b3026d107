import { writeFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { Matrix } from '../core/matrix.js';
import { fetchMatrix } from '../coordinator/client.js';
import { matrixFromFiles } from '../coordinator/matrix-files.js';
import { formatMatrixJson, formatMatrixJunit, formatMatrixTable, matrixExitCode } from '../report/matrix-table.js';
import { renderMatrixHtml } from '../report/html-matrix.js';
import { outputOptions } from './output-options.js';
import { checkCoordinatorOrReports, COORDINATOR_SOURCE_OPTIONS, REPORTS_SOURCE_OPTION } from './coordinator-options.js';

const FORMATS = ['table', 'json', 'junit', 'html'] as const;
type Format = (typeof FORMATS)[number];

interface MatrixArgs {
  coordinator?: string;
  'token-file'?: string;
  ca?: string;
  reports?: string[];
  baseline?: string;
  format: Format;
  out?: string;
}

/** Add `reachgate matrix`: the site's agents x rows, from the coordinator or offline from RunReport files. */
export function matrixCommand(parser: Argv): Argv {
  return parser.command<MatrixArgs>(
    'matrix',
    "Show every agent's latest verdict per row: from the coordinator, or offline from RunReport files",
    (command) =>
      command
        .options({
          ...COORDINATOR_SOURCE_OPTIONS,
          ...REPORTS_SOURCE_OPTION,
          baseline: {
            type: 'string',
            requiresArg: true,
            describe: 'An accepted matrix (`--format json` output) or baseline to mark drift against (with --reports)',
            group: 'Source:',
          },
          ...outputOptions(FORMATS),
        })
        .conflicts('coordinator', 'reports')
        .conflicts('baseline', 'coordinator')
        .check(checkCoordinatorOrReports)
        .example(
          'reachgate matrix --reports ws.json tg.json --format html --out matrix.html',
          'offline: one page from the reports of each agent',
        )
        .example('reachgate matrix --reports *.json --format json --out accepted.json', 'keep an accepted state ...')
        .example('reachgate matrix --reports *.json --baseline accepted.json', '... and show drift against it later')
        .example(
          'reachgate matrix --coordinator https://coordinator:8443 --token-file viewer.token --format junit',
          'for CI',
        ),
    async (argv) => {
      const matrix =
        argv.reports !== undefined
          ? matrixFromFiles(argv.reports, argv.baseline, new Date())
          : await fetchMatrix({ coordinator: argv.coordinator!, tokenFile: argv['token-file']!, caFile: argv.ca });
      const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
      if (argv.out) {
        writeFileSync(argv.out, render(matrix, argv.format, false));
        process.stdout.write(formatMatrixTable(matrix, colour));
      } else {
        process.stdout.write(render(matrix, argv.format, colour));
      }
      process.exitCode = matrixExitCode(matrix);
    },
  );
}

function render(matrix: Matrix, format: Format, colour: boolean): string {
  switch (format) {
    case 'json':
      return formatMatrixJson(matrix);
    case 'junit':
      return formatMatrixJunit(matrix);
    // A file handed over must open on its own: the stylesheet and script go inside it.
    case 'html':
      return renderMatrixHtml(matrix, { assets: 'inline' });
    case 'table':
      return formatMatrixTable(matrix, colour);
  }
}
