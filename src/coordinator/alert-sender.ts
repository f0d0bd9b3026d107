// The coordinator's background sender of alert events: every check interval it asks the store for agents
// that went stale or fresh (events queued once, in the store), then leases due deliveries from the outbox
// and POSTs them, one request per webhook, in order. Ingest never waits for it; a webhook that fails is
// retried with doubling waits until its attempts or the event's age run out. Firing alerts are queued
// again for Alertmanager-format webhooks every `resend` interval; a re-send that fails or comes too late
// is dropped, as the next one replaces it.
import type { Logger } from 'pino';
import type { AlertEvent, AlertRules, Delivery, DeliveryOutcome } from './alert-store.js';
import type { Store } from './store.js';
import { loadUndici } from '../core/http-parser.js';

/** One webhook of the alerts file. */
export interface WebhookSettings {
  name: string;
  url: string;
  format: 'alertmanager' | 'json';
  timeoutMs: number;
  /** Sent as `Authorization: Bearer TOKEN`. */
  token?: string;
  /** Extra labels on every alert (Alertmanager) or event (json). */
  labels: Record<string, string>;
}

/** A valid alerts file (`--alerts FILE`). */
export interface AlertSettings {
  fireAfter: number;
  resolveAfter: number;
  stale: boolean;
  checkIntervalMs: number;
  /** How often a firing alert is sent again to Alertmanager-format webhooks. */
  resendMs: number;
  generatorUrl?: string;
  retry: { firstMs: number; maxMs: number; attempts: number; maxAgeMs: number };
  webhooks: WebhookSettings[];
}

/** What the store needs of the settings. */
export function alertRulesOf(settings: AlertSettings): AlertRules {
  return {
    fireAfter: settings.fireAfter,
    resolveAfter: settings.resolveAfter,
    stale: settings.stale,
    webhooks: settings.webhooks.map((webhook) => webhook.name),
    resend: {
      everyMs: settings.resendMs,
      webhooks: settings.webhooks.filter((webhook) => webhook.format === 'alertmanager').map((webhook) => webhook.name),
    },
  };
}

/** Deliveries leased per claim: one request per webhook carries at most this many events. */
const CLAIM_BATCH = 100;
/** Claims per tick at most, so that one tick ends even when events keep coming. */
const CLAIMS_PER_TICK = 20;
/** Bytes of a webhook's answer read at most (the rest is dropped). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Sent and given-up deliveries are kept this long (for a look at the table), then deleted. */
const KEEP_SETTLED_MS = 7 * 24 * 3_600_000;
const HOUR_MS = 3_600_000;
/** A lease outlasts the webhook's timeout by this much; a sender that died frees its deliveries after it. */
const LEASE_MARGIN_MS = 5000;

/** The JSON body a webhook gets for some events. */
export function webhookBody(webhook: WebhookSettings, deliveries: readonly Delivery[], generatorUrl?: string): string {
  if (webhook.format === 'json')
    return JSON.stringify({
      source: 'reachgate',
      events: deliveries.map((delivery) => ({ id: delivery.id, ...delivery.event, labels: webhook.labels })),
    });
  return JSON.stringify(
    deliveries.map(({ event }) => ({
      labels: {
        ...webhook.labels,
        alertname: event.kind === 'drift' ? 'ReachgateDrift' : 'ReachgateAgentStale',
        agent: event.agent,
        ...(event.row === null ? {} : { row: event.row }),
        ...(event.role === null ? {} : { role: event.role }),
        ...(event.site === null ? {} : { site: event.site }),
      },
      annotations: { summary: summaryOf(event) },
      startsAt: event.starts_at,
      ...(event.ends_at === null ? {} : { endsAt: event.ends_at }),
      ...(generatorUrl === undefined ? {} : { generatorURL: generatorUrl }),
    })),
  );
}

function summaryOf(event: AlertEvent): string {
  if (event.kind === 'stale')
    return event.status === 'firing'
      ? `agent ${event.agent} has sent no fresh report since ${event.starts_at}`
      : `agent ${event.agent} reports again`;
  const accepted = event.baseline === null ? 'not in the accepted baseline' : `accepted as ${event.baseline}`;
  return event.status === 'firing'
    ? `${event.agent} ${event.row}: ${event.verdict ?? 'no longer reported'}, ${accepted}`
    : `${event.agent} ${event.row}: ${event.verdict}, as accepted again`;
}

/** The background sender; `start` once, `stop` on shutdown (waits for the tick in progress). */
export class AlertSender {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private prunedAt = 0;
  private dispatcher: import('undici').Agent | undefined;

  constructor(
    private readonly store: Store,
    private readonly settings: AlertSettings,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(this.settings.checkIntervalMs);
      });
    }, ms);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.dispatcher?.close();
  }

  /** Sweep staleness, then send what is due; a failing store is logged and tried again next tick. */
  private async tick(): Promise<void> {
    try {
      const turned = await this.store.sweepStale(this.now());
      if (turned > 0) this.logger.info({ agents: turned }, 'agents turned stale or fresh; alert events queued');
      const resent = await this.store.resendFiring(this.now());
      if (resent > 0) this.logger.debug({ alerts: resent }, 'firing alerts queued again');
      for (let claims = 0; claims < CLAIMS_PER_TICK && !this.stopped; claims++) {
        const leaseMs = Math.max(...this.settings.webhooks.map((webhook) => webhook.timeoutMs)) + LEASE_MARGIN_MS;
        const due = await this.store.claimDeliveries(this.now(), CLAIM_BATCH, leaseMs);
        if (due.length === 0) break;
        await this.deliver(due);
      }
      const at = this.now().getTime();
      if (at - this.prunedAt >= HOUR_MS) {
        this.prunedAt = at;
        await this.store.pruneDeliveries(new Date(at - KEEP_SETTLED_MS));
      }
    } catch (error) {
      this.logger.error({ err: error }, 'alert sending failed; it runs again at the next check');
    }
  }

  /** POST each webhook's share of the deliveries and record the outcome at once (a crash then resends the least). */
  private async deliver(due: readonly Delivery[]): Promise<void> {
    const byWebhook = new Map<string, Delivery[]>();
    for (const delivery of due) byWebhook.set(delivery.webhook, [...(byWebhook.get(delivery.webhook) ?? []), delivery]);
    for (const [name, claimed] of byWebhook) {
      // A re-send whose end has passed would tell Alertmanager the alert ended: a newer one replaces it.
      const start = this.now().getTime();
      const late = claimed.filter((delivery) => delivery.event.resend && Date.parse(delivery.event.ends_at!) <= start);
      const deliveries = claimed.filter((delivery) => !late.includes(delivery));
      const webhook = this.settings.webhooks.find((candidate) => candidate.name === name);
      const failure =
        deliveries.length === 0
          ? undefined
          : webhook
            ? await this.post(webhook, deliveries)
            : `the webhook ${name} is no longer in the alerts file`;
      const at = this.now();
      const outcomes = [
        ...late.map((delivery) => ({
          id: delivery.id,
          result: 'failed' as const,
          error: 'a later re-send replaces it',
        })),
        ...deliveries.map((delivery) => this.outcomeOf(delivery, failure, at.getTime(), !webhook)),
      ];
      await this.store.settleDeliveries(outcomes, at);
      if (deliveries.length === 0) continue;
      if (failure === undefined) this.logger.info({ webhook: name, events: deliveries.length }, 'alert events sent');
    }
  }

  private outcomeOf(delivery: Delivery, failure: string | undefined, at: number, giveUp: boolean): DeliveryOutcome {
    if (failure === undefined) return { id: delivery.id, result: 'sent' };
    const { retry } = this.settings;
    const attempts = delivery.attempts + 1;
    const fields = { webhook: delivery.webhook, id: delivery.id, attempts, why: failure };
    if (delivery.event.resend) {
      this.logger.warn(fields, 'firing alert not re-sent; the next re-send replaces it');
      return { id: delivery.id, result: 'failed', error: failure };
    }
    if (giveUp || attempts >= retry.attempts || at - delivery.created_ms >= retry.maxAgeMs) {
      this.logger.error({ ...fields, event: delivery.event }, 'alert event given up');
      return { id: delivery.id, result: 'failed', error: failure };
    }
    const wait = Math.min(retry.firstMs * 2 ** (attempts - 1), retry.maxMs);
    this.logger.warn({ ...fields, retry_in_ms: wait }, 'alert event not delivered; retrying');
    return { id: delivery.id, result: 'retry', next_ms: at + wait, error: failure };
  }

  /** One POST; undefined when the webhook took it (2xx), else why not. Redirects are not followed. */
  private async post(webhook: WebhookSettings, deliveries: readonly Delivery[]): Promise<string | undefined> {
    const { Agent, request } = await loadUndici();
    this.dispatcher ??= new Agent({ connect: { timeout: 10_000 }, connections: 4 });
    try {
      const response = await request(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'reachgate-alerts',
          ...(webhook.token === undefined ? {} : { authorization: `Bearer ${webhook.token}` }),
        },
        body: webhookBody(webhook, deliveries, this.settings.generatorUrl),
        dispatcher: this.dispatcher,
        headersTimeout: webhook.timeoutMs,
        bodyTimeout: webhook.timeoutMs,
        signal: AbortSignal.timeout(webhook.timeoutMs),
      });
      let answer = '';
      for await (const chunk of response.body) {
        if (answer.length < MAX_ANSWER_BYTES) answer += String(chunk).slice(0, MAX_ANSWER_BYTES - answer.length);
        else {
          response.body.destroy();
          break;
        }
      }
      if (response.statusCode >= 200 && response.statusCode < 300) return undefined;
      if (response.statusCode >= 300 && response.statusCode < 400)
        return `HTTP ${response.statusCode}: redirects are not followed; give the final URL`;
      return `HTTP ${response.statusCode}: ${answer.replace(/\s+/g, ' ').slice(0, 200)}`;
    } catch (error) {
      const code =
        (error as { cause?: { code?: string } }).cause?.code ??
        (error as { code?: string }).code ??
        (error as Error).name;
      return `${code}: ${(error as Error).message}`.slice(0, 300);
    }
  }
}
