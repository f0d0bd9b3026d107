import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isUsageError } from '../core/usage-error.js';
import { VERSION } from '../core/version.js';
import { probeCommand } from './probe.js';

/** Exit code for invalid usage: nothing was probed. */
const USAGE_EXIT = 2;

/** Print a user's mistake without a stack trace and exit 2. */
function usageFailure(message: string, hint?: string): never {
  process.stderr.write(`reachgate: ${message}\n${hint ? `${hint}\n` : ''}Run \`reachgate --help\` for usage.\n`);
  process.exit(USAGE_EXIT);
}

async function main(): Promise<void> {
  const args = hideBin(process.argv);
  let parser: Argv = yargs(args)
    .scriptName('reachgate')
    .version(VERSION)
    .strict()
    .demandCommand(1, 'Name a command.')
    .recommendCommands()
    .wrap(Math.min(120, process.stdout.columns || 100))
    .fail((message, error) => {
      if (error && !isUsageError(error)) throw error;
      usageFailure(error?.message ?? message, isUsageError(error) ? error.hint : undefined);
    });
  parser = await probeCommand(parser, args);
  await parser.parseAsync();
}

main().catch((error: unknown) => {
  if (isUsageError(error)) usageFailure(error.message, error.hint);
  process.stderr.write(`reachgate: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(70);
});
