import type { Argv } from 'yargs';
import { isUsageError } from '../core/usage-error.js';
import { VERSION } from '../core/version.js';
import { fastProbe } from './probe-fast.js';

/** Exit code for invalid usage: nothing was probed. */
const USAGE_EXIT = 2;

/** Print a user's mistake without a stack trace and exit 2. */
function usageFailure(message: string, hint?: string): never {
  process.stderr.write(`reachgate: ${message}\n${hint ? `${hint}\n` : ''}Run \`reachgate --help\` for usage.\n`);
  process.exit(USAGE_EXIT);
}

async function main(): Promise<void> {
  // `reachgate ... | head` closes the pipe early: that is the reader's choice, not a fault.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  const args = process.argv.slice(2);
  if (args.length === 1 && args[0] === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const fast = await fastProbe(args);
  if (fast !== undefined) {
    process.exitCode = fast;
    return;
  }
  const [{ default: yargs }, { probeCommand }] = await Promise.all([import('yargs'), import('./probe.js')]);
  let parser: Argv = yargs(args)
    .scriptName('reachgate')
    .version(VERSION)
    .strict()
    .demandCommand(1, 'Name a command.')
    .recommendCommands()
    .wrap(Math.min(120, process.stdout.columns || 100))
    .fail((message, error) => {
      // yargs reports its own argument errors (e.g. requiresArg) as a YError: a user's mistake, not a fault.
      if (error && !isUsageError(error) && error.name !== 'YError') throw error;
      usageFailure(error?.message ?? message, isUsageError(error) ? error.hint : undefined);
    });
  parser = await probeCommand(parser, args);
  // Commands that read profiles load their modules only when they run.
  const command = args[0];
  if (command === 'run') (await import('./run.js')).runCommand(parser);
  else if (command === 'validate') (await import('./validate.js')).validateCommand(parser);
  else if (command === 'profiles') (await import('./profiles.js')).profilesCommand(parser);
  else {
    parser.command('run <profile..>', 'Run role profiles against a site and print the pass/fail matrix, row by row');
    parser.command('validate <profile..>', 'Check profiles (and a site) and report every problem with file:line:col; sends nothing');
    parser.command('profiles', 'List the built-in profiles, their roles, and which rows and invariants each proves');
  }
  await parser.parseAsync();
}

main().catch((error: unknown) => {
  if (isUsageError(error)) usageFailure(error.message, error.hint);
  process.stderr.write(`reachgate: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(70);
});
