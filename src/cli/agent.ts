import type { Argv } from 'yargs';
import { VERSION } from '../core/version.js';
import { runForever, runOnce } from '../agent/agent.js';
import { prepareAgent, type AgentLogLevel } from '../agent/start.js';
import { runAgentResponder } from '../agent/responder.js';

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
  const context = await prepareAgent(argv.config, argv['log-level'], {
    allowInsecureTokenFile: argv['allow-insecure-token-file'],
  });
  const { config, run, spool, courier, log } = context;
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    // A second signal means now: whatever is spooled is safe on disk.
    if (stop.signal.aborted) process.exit(130);
    log.info({ signal }, 'stopping after the current step');
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // However the process ends (a second signal, a fault), the spool's lock goes with it.
  const release = (): void => spool.close();
  process.on('exit', release);
  log.info(
    {
      version: VERSION,
      role: config.role,
      profiles: config.profiles,
      site: run.site.name,
      coordinator: config.reportsUrl,
      interval_ms: config.intervalMs,
      jitter_ms: config.jitterMs,
      spool: config.spoolDir,
      once: argv.once,
    },
    'agent started',
  );
  try {
    if (argv.once) return await runOnce(context, stop.signal);
    await Promise.all([runForever(context, stop.signal), runAgentResponder(context, stop.signal)]);
    log.info({ spooled: spool.entries().length }, 'agent stopped');
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await courier.close();
    spool.close();
    process.off('exit', release);
  }
}
