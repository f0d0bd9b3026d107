import { runProfiles, type ValidRun } from '../run/profiles.js';
import type { AgentConfig } from './config.js';
import { type Courier, deliverSpool } from './delivery.js';
import { nextRunDelay, retryDelay, sleep } from './schedule.js';
import { type AgentLog, type Spool, SpoolWriteError } from './spool.js';

/** Everything a running agent holds. */
export interface AgentContext {
  config: AgentConfig;
  run: ValidRun;
  spool: Spool;
  courier: Courier;
  log: AgentLog;
}

/** Run the profiles once and spool the report; a fault is logged, never thrown, so the agent keeps its schedule. */
export async function runCycle(context: AgentContext): Promise<boolean> {
  const { config, run, spool, log } = context;
  try {
    const started = Date.now();
    const report = await runProfiles(run, {
      agent: config.name,
      concurrency: config.concurrency,
      warn: (message) => log.warn(message),
    });
    report.interval_s = config.intervalMs / 1000;
    const entry = spool.add(report);
    log.info(
      {
        report_id: report.id,
        summary: report.summary,
        probes: report.results.length,
        duration_ms: Date.now() - started,
        spool_file: entry.name,
      },
      'profiles run; report spooled',
    );
    return true;
  } catch (error) {
    if (error instanceof SpoolWriteError)
      log.error({ why: error.message, code: error.code }, 'the report could not be spooled; this cycle is lost');
    else log.error({ err: error }, 'the profiles could not be run this cycle');
    return false;
  }
}

/** `--once`: one cycle, one delivery round; 0 when this run's report and every older one were delivered, 1 otherwise. */
export async function runOnce(context: AgentContext, signal: AbortSignal): Promise<0 | 1> {
  const ran = await runCycle(context);
  const round = await deliverSpool(context.spool, context.courier, context.log, signal);
  if (round.remaining > 0) {
    context.log.warn(
      { spooled: round.remaining, why: round.failure },
      'reports are still spooled; the next run delivers them',
    );
  }
  return ran && round.remaining === 0 ? 0 : 1;
}

/** The long-running agent: cycles on the interval with jitter, deliveries retried with backoff, until the signal aborts. */
export async function runForever(context: AgentContext, signal: AbortSignal): Promise<void> {
  const { config, spool, courier, log } = context;
  // A fleet restarted together would probe together: the first run waits a random part of the jitter.
  let nextCycle = Date.now() + Math.random() * config.jitterMs;
  let nextDelivery = 0;
  let failures = 0;
  while (!signal.aborted) {
    let wake: number;
    try {
      if (Date.now() >= nextCycle) {
        await runCycle(context);
        nextCycle = Date.now() + nextRunDelay(config.intervalMs, config.jitterMs);
      }
      if (signal.aborted) break;
      if (Date.now() >= nextDelivery && spool.entries().length > 0) {
        const round = await deliverSpool(spool, courier, log, signal);
        if (round.failure !== undefined && !signal.aborted) {
          failures += 1;
          const wait = retryDelay(failures, config.retryMinMs, config.retryMaxMs);
          nextDelivery = Date.now() + wait;
          log.warn(
            { spooled: round.remaining, failures, retry_in_ms: wait },
            'the coordinator did not take every report; retrying later',
          );
        } else if (round.failure === undefined) {
          if (failures > 0) log.info({ failures }, 'delivery works again; the spool is drained');
          failures = 0;
          nextDelivery = 0;
        }
      }
      wake = spool.entries().length > 0 ? Math.min(nextCycle, nextDelivery) : nextCycle;
    } catch (error) {
      // The spool directory itself failed (removed, disk full): say so and try again later rather than exit.
      failures += 1;
      const wait = retryDelay(failures, config.retryMinMs, config.retryMaxMs);
      log.error({ err: error, retry_in_ms: wait }, 'the spool failed');
      wake = Date.now() + wait;
    }
    await sleep(Math.max(0, wake - Date.now()), signal);
  }
}
