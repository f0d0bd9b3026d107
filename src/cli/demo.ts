import type { Argv } from 'yargs';
import { runDemo } from '../demo/demo.js';

interface DemoArgs {
  once: boolean;
  port: number;
}

/** Add `reachgate demo [--once]`: the whole pipeline on a demo site built on this machine. */
export function demoCommand(parser: Argv): Argv {
  return parser.command<DemoArgs>(
    'demo',
    "Build a demo site on this machine, run an agent per role, and show the coordinator's matrix",
    (command) =>
      command
        .option('once', {
          type: 'boolean',
          default: false,
          describe: 'Print the matrix and exit (for CI) instead of serving the HTML page until Ctrl-C',
        })
        .option('port', {
          type: 'number',
          default: 8580,
          describe: 'Loopback port of the HTML page',
          requiresArg: true,
        })
        .example(
          'sudo reachgate demo',
          'namespaces shaped like the port table, real daemons, four agents, the matrix on http://127.0.0.1:8580/',
        )
        .example('reachgate demo --once', 'without root: a loopback-only site; prints the matrix and exits'),
    async (argv) => {
      process.exitCode = await runDemo(
        { once: argv.once, port: argv.port, untilStopped },
        {
          stdout: (text) => {
            process.stdout.write(text);
          },
          stderr: (text) => {
            process.stderr.write(text);
          },
        },
      );
    },
  );
}

/** Until the operator presses Ctrl-C or the service manager stops the demo. */
function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}
