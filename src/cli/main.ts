import type { Argv } from 'yargs';
import { isUsageError } from '../core/usage-error.js';
import { VERSION } from '../core/version.js';
import { usageFailure } from './entry.js';
import { fastProbe } from './probe-fast.js';

/**
 * Run the command `args` names (the command line after the program), as `reachgate ARGS` does: it prints on
 * process.stdout and process.stderr and leaves its exit code in process.exitCode; a user's mistake ends in
 * process.exit(2) (usageFailure). src/cli/reachgate.ts is the CLI's entry around it; tests call it in-process.
 */
export async function runCli(args: string[]): Promise<void> {
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
  else if (command === 'explain') (await import('./explain.js')).explainCommand(parser);
  else if (command === 'key') (await import('./key.js')).keyCommand(parser);
  else if (command === 'accept') (await import('./accept.js')).acceptCommand(parser);
  else if (command === 'verify') (await import('./verify.js')).verifyCommand(parser);
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
    parser.command('explain <row>', "Tell one row's story step by step, from a report, the coordinator, or live");
    parser.command(
      'accept',
      "Sign the site off: every agent, result and control in one record, signed with the approver's Ed25519 key",
    );
    parser.command(
      'verify <record>',
      "Check an acceptance record's signature and every digest, offline; exit 1 naming each part that does not match",
    );
    parser.command('key <action>', 'Create the Ed25519 key an approver signs acceptance records with');
    parser.command(
      'token <action>',
      "Create, list and revoke the tokens agents and viewers use (stored hashed in the coordinator's database)",
    );
  }
  await parser.parseAsync();
}
