import type { Argv } from 'yargs';
import { runAgent } from '../agent/main.js';
import type { AgentLogLevel } from '../agent/start.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

interface AgentArgs {
  config: string;
  once: boolean;
  'log-level': AgentLogLevel;
  'allow-insecure-token-file': boolean;
}

/** Add `reachgate agent --config FILE [--once]`. */
export function agentCommand(parser: Argv): Argv {
  return parser.command<AgentArgs>(
    'agent',
    'Run profiles on a schedule, spool each report and deliver it to the coordinator; opens no port',
    (command) =>
      command
        .options({
          config: {
            type: 'string',
            demandOption: true,
            requiresArg: true,
            describe: 'The agent config (YAML, see profiles/schema/agent.schema.json)',
          },
          once: {
            type: 'boolean',
            default: false,
            describe: 'Run one cycle, deliver what can be delivered, exit 0 when nothing is left spooled, 1 otherwise',
          },
          'log-level': {
            choices: LEVELS,
            default: 'info' as const,
            describe: 'Least important log line written (JSON lines on stderr)',
          },
          'allow-insecure-token-file': {
            type: 'boolean',
            default: false,
            describe:
              'Accept a token file group or others may read (logged as a warning); by default the agent refuses it',
          },
        })
        .example('reachgate agent --config /etc/reachgate/agent.yaml', 'run as a service')
        .example('reachgate agent --config agent.yaml --once', 'one cycle, e.g. from cron or for a first test'),
    async (argv) => {
      process.exitCode = await agent(argv);
    },
  );
}

async function agent(argv: AgentArgs): Promise<number> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    // A second signal means now: whatever is spooled is safe on disk.
    if (stop.signal.aborted) process.exit(130);
    stop.abort(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await runAgent({
      config: argv.config,
      once: argv.once,
      logLevel: argv['log-level'],
      allowInsecureTokenFile: argv['allow-insecure-token-file'],
      // The log on this process's stderr (synchronous for files, pipes and terminals on Linux, as pino's fd 2
      // destination is), so that whatever stands in for process.stderr, e.g. a test's in-process run, gets it too.
      destination: process.stderr,
      stop: stop.signal,
    });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
