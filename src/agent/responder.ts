import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Receipt } from '../core/receipt.js';
import { UsageError } from '../core/usage-error.js';
import { CaptureError } from '../responder/capture.js';
import { startResponder } from '../responder/responder.js';
import type { AgentContext } from './agent.js';
import type { AgentConfig } from './config.js';
import { Courier } from './delivery.js';

/** Receipts one post carries at most (the coordinator takes 1000). */
const PER_POST = 1000;
/** Receipts kept while the coordinator is unreachable, at most; the oldest go first. */
const BACKLOG = 20_000;

/**
 * The agent's `responder:` section: watch ports passively and post what arrived to the coordinator
 * every interval, with the agent's own token. A post without receipts is the responder's heartbeat:
 * while it comes, a probe whose nonce it lacks fails; once it stops, such probes are inconclusive.
 */
export async function runAgentResponder(
  context: {
    config: Pick<AgentConfig, 'reportsUrl' | 'tokenFile' | 'caFile' | 'deliveryTimeoutMs' | 'responder'>;
    log: AgentContext['log'];
  },
  signal: AbortSignal,
): Promise<void> {
  const { config, log } = context;
  const settings = config.responder;
  if (!settings) return;
  const courier = new Courier({
    reportsUrl: new URL('receipts', config.reportsUrl).href,
    tokenFile: config.tokenFile,
    timeoutMs: config.deliveryTimeoutMs,
    ...(config.caFile === undefined ? {} : { ca: readFileSync(config.caFile) }),
  });
  const pending: Receipt[] = [];
  let responder: Awaited<ReturnType<typeof startResponder>>;
  try {
    responder = await startResponder({
      ports: { udp: settings.udp, tcp: settings.tcp },
      onReceipt: (receipt) => {
        pending.push(receipt);
        if (pending.length > BACKLOG) pending.shift();
      },
    });
  } catch (error) {
    await courier.close();
    if (error instanceof CaptureError)
      throw new UsageError(`the agent config's \`responder\` cannot start: ${error.message}`);
    throw error;
  }
  log.info({ udp: settings.udp, tcp: settings.tcp }, 'responder watching');
  try {
    while (!signal.aborted) {
      const batch = pending.slice(0, PER_POST);
      // The coordinator acknowledges a post by its id, as it does a report.
      const id = `receipts-${randomBytes(12).toString('hex')}`;
      const interval = Math.max(1, Math.round(settings.intervalMs / 1000));
      const outcome = await courier.post(JSON.stringify({ id, receipts: batch, interval_s: interval }), id, signal);
      if (outcome.kind === 'delivered') {
        pending.splice(0, batch.length);
        if (batch.length > 0) log.info({ receipts: batch.length }, 'receipts delivered');
      } else {
        log.warn(
          { receipts: batch.length, problem: outcome.message },
          'receipts not delivered; kept for the next post',
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, settings.intervalMs);
        function done(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    await responder.stop();
    await courier.close();
  }
}
