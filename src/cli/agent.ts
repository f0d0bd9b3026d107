import { readFileSync, statSync } from 'node:fs';
import pino from 'pino';
import type { Argv } from 'yargs';
import { UsageError } from '../core/usage-error.js';
import { VERSION } from '../core/version.js';
import { loadAgentConfig, type AgentConfig } from '../agent/config.js';
import { runForever, runOnce, type AgentContext } from '../agent/agent.js';
import { Courier, isToken } from '../agent/delivery.js';
import { Spool } from '../agent/spool.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

interface AgentArgs {
  config: string;
  once: boolean;
  'log-level': pino.Level | 'silent';
}

/** Add `reachgate agent --config FILE [--once]`. */
export function agentCommand(parser: Argv): Argv {
  return parser.command<AgentArgs>(
    'agent',
    'Run profiles on a schedule, spool each report and deliver it to the coordinator; opens no port',
    (command) => command
      .options({
        'config': { type: 'string', demandOption: true, requiresArg: true, describe: 'The agent config (YAML, see profiles/schema/agent.schema.json)' },
        'once': { type: 'boolean', default: false, describe: 'Run one cycle, deliver what can be delivered, exit 0 when nothing is left spooled, 1 otherwise' },
        'log-level': { choices: LEVELS, default: 'info' as const, describe: 'Least important log line written (JSON lines on stderr)' },
      })
      .example('reachgate agent --config /etc/reachgate/agent.yaml', 'run as a service')
      .example('reachgate agent --config agent.yaml --once', 'one cycle, e.g. from cron or for a first test'),
    async (argv) => {
      process.exitCode = await agent(argv);
    },
  );
}

async function agent(argv: AgentArgs): Promise<number> {
  const { config, run } = await loadAgentConfig(argv.config);
  checkTokenFile(config.tokenFile);
  const ca = config.caFile === undefined ? undefined : readConfigFile(config.caFile, 'ca-file');
  const log = pino({
    level: argv['log-level'],
    base: { agent: config.name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, pino.destination({ dest: 2, sync: true }));
  warnAboutSetup(config, log);
  const spool = new Spool(config.spoolDir, config.spoolLimit, log);
  try {
    spool.open();
  } catch (error) {
    throw new UsageError(`cannot use the spool directory ${config.spoolDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, 'Create it, or point `spool` in the agent config at a directory the agent may write.');
  }
  const courier = new Courier({ reportsUrl: config.reportsUrl, tokenFile: config.tokenFile, timeoutMs: config.deliveryTimeoutMs, ...(ca ? { ca } : {}) });
  const context: AgentContext = { config, run, spool, courier, log };
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    // A second signal means now: whatever is spooled is safe on disk.
    if (stop.signal.aborted) process.exit(130);
    log.info({ signal }, 'stopping after the current step');
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  log.info({ version: VERSION, role: config.role, profiles: config.profiles, site: run.site.name, coordinator: config.reportsUrl, interval_ms: config.intervalMs, jitter_ms: config.jitterMs, spool: config.spoolDir, once: argv.once }, 'agent started');
  try {
    if (argv.once) return await runOnce(context, stop.signal);
    await runForever(context, stop.signal);
    log.info({ spooled: spool.entries().length }, 'agent stopped');
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await courier.close();
  }
}

function readConfigFile(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`cannot read the \`${key}\` ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

function checkTokenFile(file: string): void {
  const token = readConfigFile(file, 'token-file').toString('utf8').trim();
  if (!isToken(token)) {
    throw new UsageError(`the \`token-file\` ${file} ${token === '' ? 'is empty' : 'does not hold a token: expected one line without spaces'}`, 'Put the token that `reachgate token create --agent NAME --role ROLE` printed in it.');
  }
}

function warnAboutSetup(config: AgentConfig, log: pino.Logger): void {
  const mode = statSync(config.tokenFile).mode;
  if ((mode & 0o077) !== 0) log.warn({ file: config.tokenFile, mode: (mode & 0o777).toString(8) }, 'the token file is readable by others: chmod 600 it');
  const url = new URL(config.reportsUrl);
  const loopback = /^(127\.|\[::1\]$|localhost$)/.test(url.hostname);
  if (url.protocol === 'http:' && !loopback) log.warn({ coordinator: config.reportsUrl }, 'the coordinator URL is plain http: the token and reports cross the network unencrypted; use https');
}
