import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { AlertSettings, WebhookSettings } from '../coordinator/alert-sender.js';
import { UsageError } from '../core/usage-error.js';
import { checkSchema } from './schema-check.js';
import { formatProblems, YamlSource } from './source.js';

interface RawWebhook {
  name: string;
  url: string;
  format: 'alertmanager' | 'json';
  timeout?: string;
  'token-file'?: string;
  labels?: Record<string, string>;
}

interface RawAlerts {
  drift?: { 'fire-after'?: number; 'resolve-after'?: number };
  stale?: boolean;
  'check-interval'?: string;
  resend?: string;
  'generator-url'?: string;
  retry?: { first?: string; max?: string; attempts?: number; 'max-age'?: string };
  webhooks: RawWebhook[];
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Load `--alerts FILE`; every problem is one UsageError with file:line:col. */
export async function loadAlertSettings(file: string): Promise<AlertSettings> {
  const source = YamlSource.read(file);
  if (source.problems.length > 0) throw invalid(source);
  const raw = source.data() as RawAlerts;
  await checkSchema(source, raw, 'alerts');
  if (source.problems.length > 0 || raw === null || typeof raw !== 'object') throw invalid(source);
  const duration = (path: string[], text: string | undefined, fallback: string, min: number, max: number): number => {
    const given = text ?? fallback;
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(given);
    const ms = match ? Math.round(Number(match[1]) * UNITS[match[2] ?? 's']!) : NaN;
    if (!(ms >= min && ms <= max))
      source.report(path, `\`${path.at(-1)}\` must be from ${shown(min)} to ${shown(max)}, got \`${given}\``);
    return ms;
  };
  const seen = new Set<string>();
  const folder = dirname(resolve(file));
  const webhooks = raw.webhooks.map((webhook, index): WebhookSettings => {
    if (seen.has(webhook.name))
      source.report(['webhooks', index, 'name'], `the webhook name \`${webhook.name}\` is used twice`);
    seen.add(webhook.name);
    const timeoutMs = duration(['webhooks', String(index), 'timeout'], webhook.timeout, '10s', 100, MINUTE);
    let token: string | undefined;
    if (webhook['token-file'] !== undefined) {
      try {
        token = readFileSync(resolve(folder, webhook['token-file']), 'utf8').trim();
        if (!/^[\x21-\x7e]{1,4096}$/.test(token)) throw new Error('not one line of printable characters');
      } catch (error) {
        const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        source.report(['webhooks', index, 'token-file'], `cannot use the token file ${webhook['token-file']}: ${why}`);
      }
    }
    return {
      name: webhook.name,
      url: webhook.url,
      format: webhook.format,
      timeoutMs,
      ...(token === undefined ? {} : { token }),
      labels: webhook.labels ?? {},
    };
  });
  const retry = {
    firstMs: duration(['retry', 'first'], raw.retry?.first, '2s', 100, HOUR),
    maxMs: duration(['retry', 'max'], raw.retry?.max, '5m', 100, HOUR),
    attempts: raw.retry?.attempts ?? 12,
    maxAgeMs: duration(['retry', 'max-age'], raw.retry?.['max-age'], '1h', 1000, 24 * HOUR),
  };
  if (retry.firstMs > retry.maxMs) source.report(['retry', 'first'], '`first` must not be more than `max`');
  const settings: AlertSettings = {
    fireAfter: raw.drift?.['fire-after'] ?? 3,
    resolveAfter: raw.drift?.['resolve-after'] ?? 3,
    stale: raw.stale ?? true,
    checkIntervalMs: duration(['check-interval'], raw['check-interval'], '5s', 100, 10 * MINUTE),
    resendMs: duration(['resend'], raw.resend, '1m', 1000, HOUR),
    ...(raw['generator-url'] === undefined ? {} : { generatorUrl: raw['generator-url'] }),
    retry,
    webhooks,
  };
  if (source.problems.length > 0) throw invalid(source);
  return settings;
}

function shown(ms: number): string {
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % MINUTE === 0) return `${ms / MINUTE}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function invalid(source: YamlSource): UsageError {
  return new UsageError(
    `the alerts file is not valid; the coordinator did not start:\n${formatProblems(source.problems)}`,
  );
}
