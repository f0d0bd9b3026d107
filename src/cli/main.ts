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
    .completion('completion', 'Print a shell completion script: reachgate completion >> ~/.bashrc')
    .wrap(Math.min(120, process.stdout.columns || 100))
    .fail((message, error) => {
      // yargs reports its own argument errors (e.g. requiresArg) as a YError: a user's mistake, not a fault.
      if (error && !isUsageError(error) && error.name !== 'YError') throw error;
      usageFailure(error?.message ?? message, isUsageError(error) ? error.hint : undefined);
    });
  // Completion asks with the words typed so far (`--get-yargs-completions reachgate run --`): the
  // command is the first finished word after the program name; the last word is still being typed.
  const words = args[0] === '--get-yargs-completions' ? args.slice(2, -1) : args;
  parser = await probeCommand(parser, words);
  // Commands that read profiles load their modules only when they run.
  const command = words[0];
  if (command === 'run') (await import('./run.js')).runCommand(parser);
  else if (command === 'validate') (await import('./validate.js')).validateCommand(parser);
  else if (command === 'profiles') (await import('./profiles.js')).profilesCommand(parser);
  else if (command === 'coordinator') (await import('./coordinator.js')).coordinatorCommand(parser);
  else if (command === 'token') (await import('./token.js')).tokenCommand(parser);
  else if (command === 'agent') (await import('./agent.js')).agentCommand(parser);
  else if (command === 'matrix') (await import('./matrix.js')).matrixCommand(parser);
  else if (command === 'baseline') (await import('./baseline.js')).baselineCommand(parser);
  else if (command === 'demo') (await import('./demo.js')).demoCommand(parser);
  else if (command === 'doctor') (await import('./doctor.js')).doctorCommand(parser);
  else if (command === 'docs') (await import('./docs.js')).docsCommand(parser);
  else if (command === 'responder') (await import('./responder.js')).responderCommand(parser);
  else {
    parser.command('run <profile..>', 'Run role profiles against a site and print the pass/fail matrix, row by row');
    parser.command(
      'validate <profile..>',
      'Check profiles (and a site) and report every problem with file:line:col; sends nothing',
    );
    parser.command('profiles', 'List the built-in profiles, their roles, and which rows and invariants each proves');
    parser.command(
      'coordinator',
      "Receive agents' reports and serve the site's matrix (JSON, HTML, Prometheus metrics)",
    );
    parser.command(
      'agent',
      'Run profiles on a schedule, spool each report and deliver it to the coordinator; opens no port',
    );
    parser.command(
      'matrix',
      "Show every agent's latest verdict per row: from the coordinator, or offline from RunReport files",
    );
    parser.command('baseline <action>', "Accept the coordinator's matrix as the baseline, or show who accepted what");
    parser.command(
      'doctor',
      'Say what this host can do and what to fix: raw ICMP socket, open files, resolvers, routes, clock, coordinator, token, spool',
    );
    parser.command(
      'demo',
      "Build a demo site on this machine, run an agent per role, and show the coordinator's matrix",
    );
    parser.command(
      'responder',
      'Watch ports passively on a far host and record the nonces probes carry: proof that one-way traffic arrived',
    );
    parser.command(
      'token <action>',
      "Create, list and revoke the tokens agents and viewers use (stored hashed in the coordinator's database)",
    );
  }
  await parser.parseAsync();
}

main().catch(async (error: unknown) => {
  if (isUsageError(error)) usageFailure(error.message, error.hint);
  // Loaded only for a fault: it maps the bundled CLI's stack back to the sources.
  const { faultText } = await import('./fault.js');
  process.stderr.write(`reachgate: internal error: ${faultText(error)}\n`);
  process.exit(70);
});
