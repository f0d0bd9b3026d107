import { readFileSync, statSync } from 'node:fs';
import pino from 'pino';
import { UsageError } from '../core/usage-error.js';
import type { AgentContext } from './agent.js';
import { loadAgentConfig, type AgentConfig } from './config.js';
import { Courier } from './delivery.js';
import { isToken } from '../coordinator/tokens.js';
import { Spool, SpoolLockedError } from './spool.js';

/** How much the agent logs: a pino level, or nothing. */
export type AgentLogLevel = pino.Level | 'silent';

/** How the agent was started: what it may accept that it refuses by default. */
export interface AgentStartOptions {
  /** Accept a token file that group or others may read (it is logged as a warning). */
  allowInsecureTokenFile?: boolean;
  /** Where the JSON log lines go; by default stderr (fd 2), written synchronously, as the CLI has it. */
  destination?: pino.DestinationStream;
}

/** Config, profiles, token, CA, log (JSON lines, on stderr by default), spool and courier: an agent ready for its first cycle. */
export async function prepareAgent(
  configFile: string,
  level: AgentLogLevel,
  options: AgentStartOptions = {},
): Promise<AgentContext> {
  const { config, run } = await loadAgentConfig(configFile);
  checkTokenFile(config.tokenFile, options.allowInsecureTokenFile === true);
  const ca = config.caFile === undefined ? undefined : readConfigFile(config.caFile, 'ca-file');
  const log = pino(
    {
      level,
      base: { agent: config.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
  warnAboutSetup(config, log);
  const spool = new Spool(config.spoolDir, config.spoolLimit, log);
  try {
    spool.open();
  } catch (error) {
    if (error instanceof SpoolLockedError)
      throw new UsageError(
        error.message,
        'Stop the other agent first, or give each agent its own `spool` directory in its config.',
      );
    throw new UsageError(
      `cannot use the spool directory ${config.spoolDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      'Create it, or point `spool` in the agent config at a directory the agent may write.',
    );
  }
  const courier = new Courier({
    reportsUrl: config.reportsUrl,
    tokenFile: config.tokenFile,
    timeoutMs: config.deliveryTimeoutMs,
    ...(ca ? { ca } : {}),
  });
  return { config, run, spool, courier, log };
}

function readConfigFile(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new UsageError(`cannot read the \`${key}\` ${file}: ${code}`);
  }
}

function checkTokenFile(file: string, allowInsecure: boolean): void {
  const token = readConfigFile(file, 'token-file').toString('utf8').trim();
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0 && !allowInsecure) {
    throw new UsageError(
      `the \`token-file\` ${file} is open to group or others (mode ${mode.toString(8)}): anyone who reads it can report as this agent`,
      `chmod 600 ${file} (and give it to the agent's user); or start with --allow-insecure-token-file to accept it.`,
    );
  }
  if (!isToken(token)) {
    const what = token === '' ? 'is empty' : 'does not hold a token: expected one line without spaces';
    throw new UsageError(
      `the \`token-file\` ${file} ${what}`,
      'Put the token that `reachgate token create --agent NAME --role ROLE` printed in it.',
    );
  }
}

function warnAboutSetup(config: AgentConfig, log: pino.Logger): void {
  const mode = statSync(config.tokenFile).mode;
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8);
    log.warn(
      { file: config.tokenFile, mode: octal },
      'the token file is readable by others (accepted with --allow-insecure-token-file): chmod 600 it',
    );
  }
  const url = new URL(config.reportsUrl);
  const loopback = /^(127\.|\[::1\]$|localhost$)/.test(url.hostname);
  if (url.protocol === 'http:' && !loopback) {
    log.warn(
      { coordinator: config.reportsUrl },
      'the coordinator URL is plain http: the token and reports cross the network unencrypted; use https',
    );
  }
}
