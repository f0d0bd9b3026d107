import t from 'tap';
import type { Argv } from 'yargs';
import { probeCommand } from '../../src/cli/probe.js';
import { kindNames } from '../../src/profile/kinds.js';
import { IN_PROCESS, reachgate } from '../helpers/cli.js';

// Every command explains itself with examples, and the shell can complete commands and options.
// Nothing here probes: --help and completion only parse.

/**
 * What `reachgate COMMAND --help` prints, in-process: the command's own module, loaded the way src/cli/main.ts loads
 * it (src/cli/NAME.ts and its NAME + 'Command' function; `probe` with the kind named), on a yargs parser that hands
 * back its output instead of printing it and exiting. test/cli/probe-usage.test.ts runs one --help through the CLI.
 */
async function helpOf(command: string[]): Promise<string> {
  const { default: yargs } = await import('yargs');
  const name = command[0]!;
  let parser: Argv = yargs().scriptName('reachgate').strict().exitProcess(false);
  if (name === 'probe') parser = await probeCommand(parser, command);
  else {
    const module = (await import(`../../src/cli/${name}.js`)) as Record<string, ((parser: Argv) => Argv) | undefined>;
    const register = module[`${name}Command`];
    if (!register) throw new Error(`src/cli/${name}.ts exports no ${name}Command, which main.ts would call`);
    parser = register(parser);
  }
  return new Promise((resolve, reject) => {
    void parser.parse([...command, '--help'], {}, (error, _argv, output) => (error ? reject(error) : resolve(output)));
  });
}

/** The commands `reachgate --help` lists, as their first word. */
async function listedCommands(): Promise<string[]> {
  const run = await reachgate(['--help']);
  const section = run.stdout.split(/^Commands:$/m)[1]?.split(/^\S/m)[0] ?? '';
  return [...section.matchAll(/^ {2}reachgate (\S+)/gm)].map((match) => match[1]!);
}

const commands = await listedCommands();

t.test('--help lists the commands of the design, and completion', async (t) => {
  for (const command of [
    'probe',
    'run',
    'validate',
    'profiles',
    'agent',
    'coordinator',
    'token',
    'matrix',
    'completion',
  ]) {
    t.ok(commands.includes(command), `${command} is listed`);
  }
});

// `completion --help` prints the script itself (yargs); every other command, listed or hidden, shows examples.
const helped = [
  ...commands.filter((command) => command !== 'completion').map((command) => [command]),
  ['docs'],
  ['token', 'create'],
  ['token', 'list'],
  ['token', 'revoke'],
  ['key', 'create'],
  ['baseline', 'accept'],
  ['baseline', 'log'],
  ...kindNames().map((kind) => ['probe', kind]),
];

for (const command of helped) {
  t.test(`reachgate ${command.join(' ')} --help shows at least one example`, async (t) => {
    const examples = (await helpOf(command)).split(/^Examples:$/m)[1];
    t.ok(examples, 'an Examples section');
    t.match(examples ?? '', /^ {2}reachgate \S+/m, 'with a command line in it');
  });
}

t.test('reachgate completion prints a bash completion script for reachgate', async (t) => {
  const run = await reachgate(['completion'], { env: { SHELL: '/bin/bash' }, via: IN_PROCESS });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^###-begin-reachgate-completions-###$/m);
  t.match(run.stdout, /reachgate --get-yargs-completions/);
  t.match(run.stdout, /^complete .* -F _reachgate_yargs_completions reachgate$/m);
});

t.test("completion offers the commands, then a command's own options", async (t) => {
  const top = await reachgate(['--get-yargs-completions', 'reachgate', ''], { via: IN_PROCESS });
  t.equal(top.code, 0, top.stderr);
  for (const command of ['probe', 'run', 'validate', 'matrix']) t.match(top.stdout, new RegExp(`^${command}$`, 'm'));
  const run = await reachgate(['--get-yargs-completions', 'reachgate', 'run', '--'], { via: IN_PROCESS });
  t.match(run.stdout, /^--site$/m);
  t.match(run.stdout, /^--format$/m);
  const formats = await reachgate(
    ['--get-yargs-completions', 'reachgate', 'run', 'tightgate/workstation', '--format', ''],
    { via: IN_PROCESS },
  );
  t.same(formats.stdout.trim().split('\n'), ['table', 'json', 'junit', 'tap', 'nagios']);
});

t.test("completion offers the probe kinds, and a kind's own options once it is named", async (t) => {
  const kinds = await reachgate(['--get-yargs-completions', 'reachgate', 'probe', ''], { via: IN_PROCESS });
  for (const kind of kindNames()) t.match(kinds.stdout, new RegExp(`^${kind}$`, 'm'));
  // Through the binary, as a shell asks: nothing but the completions on stdout, nothing on stderr.
  const tcp = await reachgate(['--get-yargs-completions', 'reachgate', 'probe', 'tcp', '198.51.100.10:22', '--']);
  t.equal(tcp.code, 0, tcp.stderr);
  t.match(tcp.stdout, /^--expect-reply$/m);
  t.match(tcp.stdout, /^--tls$/m);
  t.equal(tcp.stderr, '', 'nothing on stderr to garble the prompt');
});
