import { VERSION } from '../core/version.js';
import { runForever, runOnce } from './agent.js';
import { runAgentResponder } from './responder.js';
import { prepareAgent, type AgentLogLevel, type AgentStartOptions } from './start.js';

/** What `reachgate agent` was asked to do. */
export interface AgentRunOptions extends AgentStartOptions {
  /** The agent config file. */
  config: string;
  /** One cycle and one delivery round, then return; otherwise run until `stop` aborts. */
  once: boolean;
  logLevel: AgentLogLevel;
  /** Aborted (its reason: the signal's name) to stop after the current step. */
  stop: AbortSignal;
}

/**
 * The agent, from its config to its end: 0 when it stopped cleanly (with `once`: when nothing is left spooled), 1 when
 * reports are still spooled after `once`. A user's mistake (config, token file, spool) is a UsageError thrown before
 * anything is probed. The CLI passes stderr for the log and aborts `stop` on SIGTERM or SIGINT; a test may run it in
 * its own process with another destination.
 */
export async function runAgent(options: AgentRunOptions): Promise<0 | 1> {
  const context = await prepareAgent(options.config, options.logLevel, options);
  const { config, run, spool, courier, log } = context;
  const { stop } = options;
  const stopping = (): void => log.info({ signal: stop.reason as unknown }, 'stopping after the current step');
  if (stop.aborted) stopping();
  else stop.addEventListener('abort', stopping, { once: true });
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
      once: options.once,
    },
    'agent started',
  );
  try {
    if (options.once) return await runOnce(context, stop);
    await Promise.all([runForever(context, stop), runAgentResponder(context, stop)]);
    log.info({ spooled: spool.entries().length }, 'agent stopped');
    return 0;
  } finally {
    stop.removeEventListener('abort', stopping);
    await courier.close();
    spool.close();
    process.off('exit', release);
  }
}
