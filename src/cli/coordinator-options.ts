import { UsageError } from '../core/usage-error.js';

/** The options that name a coordinator to read from with a viewer token, as `matrix` and `explain` take them. */
export const COORDINATOR_SOURCE_OPTIONS = {
  coordinator: { type: 'string', requiresArg: true, describe: 'Base URL of the coordinator', group: 'Source:' },
  'token-file': {
    type: 'string',
    requiresArg: true,
    describe: 'File holding a viewer token (with --coordinator)',
    group: 'Source:',
  },
  ca: {
    type: 'string',
    requiresArg: true,
    describe: "PEM file of the CA that signed the coordinator's certificate",
    group: 'Source:',
  },
} as const;

/** The option that names RunReport files instead of a coordinator, as `matrix` and `accept` take it. */
export const REPORTS_SOURCE_OPTION = {
  reports: {
    type: 'string',
    array: true,
    requiresArg: true,
    describe: 'RunReport JSON files (from `reachgate run --format json`), instead of a coordinator',
    group: 'Source:',
  },
} as const;

/** A yargs check: a source is named, either a coordinator with its token file or report files. */
export function checkCoordinatorOrReports(argv: {
  coordinator?: string | undefined;
  'token-file'?: string | undefined;
  reports?: string[] | undefined;
}): true {
  if (argv.coordinator === undefined && argv.reports === undefined)
    throw new UsageError('name a source: --coordinator URL --token-file FILE, or --reports FILE...');
  if (argv.coordinator !== undefined && argv['token-file'] === undefined)
    throw new UsageError('--coordinator needs --token-file: the file holding a viewer token');
  return true;
}
