import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { UsageError } from '../core/usage-error.js';
import { resolveLimits, type CoordinatorLimits } from './limits.js';
import { parseListen, whyNotListening } from './listen.js';
import { createCoordinatorServer, type CoordinatorTls, type MatrixPage } from './server.js';
import { PER_AGENT_MAX } from './metrics.js';
import { isPostgresUrl, openStore } from './open-store.js';
import type { Store } from './store.js';
import { AlertSender, alertRulesOf, type AlertSettings } from './alert-sender.js';

const HOUR_MS = 3_600_000;
/** How long a shutdown waits for requests in flight before it closes anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/** The PEM files of an HTTPS coordinator (certificate and key, or neither); a client CA turns on mutual TLS. */
export interface TlsFiles {
  cert?: string | undefined;
  key?: string | undefined;
  clientCa?: string | undefined;
}

/** What a coordinator process serves: its database (SQLite file or postgres:// URL), address, TLS files, retention, log and HTML page. */
export interface ServeOptions {
  db: string;
  /** HOST:PORT or [IPv6]:PORT. */
  listen: string;
  tls: TlsFiles;
  /** Reports older than this many days are deleted (each agent's latest kept); 0 keeps everything. */
  retentionDays: number;
  logger: Logger;
  page: MatrixPage;
  /** Rates, budgets and connection limits; the defaults where not given. */
  limits?: Partial<CoordinatorLimits>;
  /** Per-agent series in /metrics for at most this many agents (0: aggregates only). */
  metricsPerAgent?: number;
  /** Send drift and staleness events to these webhooks (`--alerts FILE`). */
  alerts?: AlertSettings;
}

/** A listening coordinator. */
export interface RunningCoordinator {
  /** Where it listens, as logged: http(s)://HOST:PORT (the port chosen when `listen` asked for port 0). */
  url: string;
  /** Stop retention, let requests in flight finish (within a grace period) and close the database. */
  stop(): Promise<void>;
}

/** Open the database and listen; a user's mistake (address, TLS file, port in use) is a UsageError. */
export async function serveCoordinator(options: ServeOptions): Promise<RunningCoordinator> {
  const { host, port } = parseListen(options.listen);
  const { logger, retentionDays } = options;
  if (!Number.isInteger(retentionDays) || retentionDays < 0 || retentionDays > 36_500) {
    throw new UsageError(
      `Expected \`--retention-days\` to be a whole number from 0 to 36500, got \`${String(retentionDays)}\``,
    );
  }
  const limits = resolveLimits(options.limits);
  const perAgent = options.metricsPerAgent ?? 0;
  if (!Number.isInteger(perAgent) || perAgent < 0 || perAgent > PER_AGENT_MAX) {
    throw new UsageError(
      `Expected \`--metrics-per-agent\` to be a whole number from 0 to ${PER_AGENT_MAX}, got \`${String(perAgent)}\``,
    );
  }
  const tls = readTls(options.tls);
  const store = await openStore(options.db, {
    staleAfterMs: limits.staleAfterHours * 3_600_000,
    confirmWindowMs: limits.confirmWindowSeconds * 1000,
  });
  if (options.alerts) store.setAlertRules(alertRulesOf(options.alerts));
  let app;
  try {
    app = createCoordinatorServer({
      store,
      logger,
      page: options.page,
      limits,
      metricsPerAgent: perAgent,
      ...(tls ? { tls } : {}),
    });
  } catch (error) {
    await store.close();
    const { cert, key } = options.tls;
    const why = (error as Error).message;
    throw new UsageError(`cannot serve HTTPS with --tls-cert ${cert} and --tls-key ${key}: ${why}`);
  }
  let url: string;
  try {
    url = await app.listen({ host, port, listenTextResolver: (address) => `coordinator listening at ${address}` });
  } catch (error) {
    await store.close();
    throw new UsageError(`cannot listen on ${options.listen}: ${whyNotListening(error as NodeJS.ErrnoException)}`);
  }
  logger.info(
    {
      db: isPostgresUrl(options.db) ? 'postgresql' : options.db,
      tls: Boolean(tls),
      client_certificates: Boolean(tls?.ca),
      retention_days: retentionDays,
      limits,
      alert_webhooks: options.alerts?.webhooks.map((webhook) => webhook.name) ?? [],
    },
    'coordinator ready',
  );
  const retention = retentionDays > 0 ? keepPruning(store, retentionDays, logger) : undefined;
  const sender = options.alerts ? new AlertSender(store, options.alerts, logger) : undefined;
  sender?.start();
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        clearInterval(retention);
        const force = setTimeout(() => {
          logger.warn('requests still in flight after the grace period; closing anyway');
          void store.close().finally(resolve);
        }, SHUTDOWN_GRACE_MS);
        force.unref();
        void Promise.all([app.close(), sender?.stop()])
          .then(() => store.close())
          .finally(() => {
            clearTimeout(force);
            resolve();
          });
      }),
  };
}

/** Delete old reports and receipts now and every hour after. */
function keepPruning(store: Store, retentionDays: number, logger: Logger): NodeJS.Timeout {
  const prune = (): void => {
    const cutoff = new Date(Date.now() - retentionDays * 24 * HOUR_MS);
    Promise.all([store.pruneReports(cutoff), store.pruneReceipts(cutoff)]).then(
      ([deleted, receipts]) => {
        if (deleted > 0 || receipts > 0)
          logger.info({ deleted, receipts, before: cutoff.toISOString() }, 'retention deleted old reports');
      },
      (error: unknown) => {
        logger.error({ err: error }, 'retention failed; it runs again in an hour');
      },
    );
  };
  prune();
  const timer = setInterval(prune, HOUR_MS);
  timer.unref();
  return timer;
}

function readTls(files: TlsFiles): CoordinatorTls | undefined {
  if ((files.cert === undefined) !== (files.key === undefined)) {
    throw new UsageError('`--tls-cert` and `--tls-key` go together: give both for HTTPS, or neither for plain HTTP');
  }
  if (files.cert === undefined || files.key === undefined) {
    if (files.clientCa !== undefined) {
      throw new UsageError('`--client-ca` needs HTTPS: give `--tls-cert` and `--tls-key` too');
    }
    return undefined;
  }
  const read = (file: string, option: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new UsageError(`cannot read \`${option}\` ${file}: ${why}`);
    }
  };
  return {
    cert: read(files.cert, '--tls-cert'),
    key: read(files.key, '--tls-key'),
    ...(files.clientCa === undefined ? {} : { ca: read(files.clientCa, '--client-ca') }),
  };
}
