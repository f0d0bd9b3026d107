import type { Argv } from 'yargs';
import { DEFAULT_LIMITS } from '../coordinator/limits.js';
import { UsageError } from '../core/usage-error.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

interface CoordinatorArgs {
  db: string;
  listen?: string;
  'migrate-only': boolean;
  'tls-cert'?: string;
  'tls-key'?: string;
  'client-ca'?: string;
  'retention-days': number;
  'metrics-per-agent': number;
  'log-level': (typeof LOG_LEVELS)[number];
  'rate-limit': number;
  'rate-burst': number;
  'agent-bytes-per-day': number;
  'max-connections': number;
  'stale-after-hours': number;
  'confirm-window': number;
  alerts?: string;
}

/** Add `reachgate coordinator --db FILE --listen HOST:PORT`. */
export function coordinatorCommand(parser: Argv): Argv {
  return parser.command<CoordinatorArgs>(
    'coordinator',
    "Receive agents' reports and serve the site's matrix (JSON, HTML, Prometheus metrics)",
    (command) =>
      command
        .options({
          db: {
            type: 'string',
            demandOption: true,
            requiresArg: true,
            describe:
              'SQLite file for reports, tokens and the baseline (created if missing), or a PostgreSQL URL postgres://USER:PASSWORD@HOST:PORT/DB that several coordinators may share',
          },
          listen: {
            type: 'string',
            requiresArg: true,
            describe: 'Address and port to listen on: HOST:PORT, [IPv6]:PORT',
          },
          'migrate-only': {
            type: 'boolean',
            default: false,
            describe: "Bring the database's schema up to date and exit, without listening",
          },
          'tls-cert': {
            type: 'string',
            requiresArg: true,
            describe: 'Serve HTTPS with this certificate (PEM; with --tls-key)',
            group: 'TLS:',
          },
          'tls-key': {
            type: 'string',
            requiresArg: true,
            describe: "The certificate's private key (PEM)",
            group: 'TLS:',
          },
          'client-ca': {
            type: 'string',
            requiresArg: true,
            describe: 'Also require client certificates signed by this CA (PEM): mutual TLS',
            group: 'TLS:',
          },
          'retention-days': {
            type: 'number',
            default: 30,
            requiresArg: true,
            describe:
              "Delete reports older than this many days, always keeping each agent's latest; 0 keeps everything",
          },
          'metrics-per-agent': {
            type: 'number',
            default: 0,
            requiresArg: true,
            describe:
              'Also export per-agent series in /metrics (age, stale, each cell) for at most this many agents; 0: aggregates per site, role and row only',
          },
          alerts: {
            type: 'string',
            requiresArg: true,
            describe:
              'Send drift and staleness events to the webhooks of this YAML file (Alertmanager or plain JSON; see docs/alerts.md)',
          },
          'log-level': {
            choices: LOG_LEVELS,
            default: 'info' as const,
            describe: 'Log level; logs are JSON lines on stderr',
          },
          'rate-limit': {
            type: 'number',
            default: DEFAULT_LIMITS.ratePerSecond,
            requiresArg: true,
            describe: 'Requests per second one agent token may make on average; more get 429 with Retry-After',
            group: 'Limits:',
          },
          'rate-burst': {
            type: 'number',
            default: DEFAULT_LIMITS.rateBurst,
            requiresArg: true,
            describe: 'Requests one agent token may make at once (a spool delivered after an outage)',
            group: 'Limits:',
          },
          'agent-bytes-per-day': {
            type: 'number',
            default: DEFAULT_LIMITS.agentBytesPerDay,
            requiresArg: true,
            describe:
              "Bytes of reports stored per agent per day, at most an hour's share at once; more get 429 and stay in the agent's spool",
            group: 'Limits:',
          },
          'max-connections': {
            type: 'number',
            default: DEFAULT_LIMITS.maxConnections,
            requiresArg: true,
            describe: 'Open connections at most; further ones are closed as they arrive',
            group: 'Limits:',
          },
          'stale-after-hours': {
            type: 'number',
            default: DEFAULT_LIMITS.staleAfterHours,
            requiresArg: true,
            describe: 'An agent whose latest results are older than this is stale, whatever interval it reports',
            group: 'Limits:',
          },
          'confirm-window': {
            type: 'number',
            default: DEFAULT_LIMITS.confirmWindowSeconds,
            requiresArg: true,
            describe:
              "Seconds (5 to 3600) after a one-way probe started within which a responder's receipt of its nonce counts; " +
              'a fresh responder reporting after it without the nonce makes the row fail. ' +
              'Give every coordinator sharing a PostgreSQL database the same value',
            group: 'Limits:',
          },
        })
        .example(
          'reachgate coordinator --db /var/lib/reachgate/reachgate.db --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem',
          'HTTPS for the agents',
        )
        .check((argv) => {
          if (argv.listen === undefined && !argv['migrate-only'])
            throw new UsageError('Missing required argument: listen (or --migrate-only to only update the schema)');
          return true;
        })
        .example(
          'reachgate coordinator --db postgres://reachgate@db.example/reachgate --listen 0.0.0.0:8080',
          'one of several coordinators sharing a PostgreSQL database, behind a load balancer',
        )
        .example(
          'reachgate coordinator --db postgres://reachgate@db.example/reachgate --migrate-only',
          'update the schema, then exit',
        )
        .example(
          'reachgate token create --viewer --db /var/lib/reachgate/reachgate.db',
          'then open https://HOST:8443/?token=TOKEN once',
        ),
    async (argv) => {
      await coordinator(argv);
    },
  );
}

async function coordinator(argv: CoordinatorArgs): Promise<void> {
  // The server, its stores and its logger load only here: `reachgate coordinator --help` or a usage error loads none.
  const { coordinatorLogger } = await import('../coordinator/logger.js');
  const { openStore } = await import('../coordinator/open-store.js');
  const logger = coordinatorLogger(argv['log-level']);
  if (argv['migrate-only']) {
    const store = await openStore(argv.db);
    await store.close();
    process.stderr.write('reachgate: the database schema is up to date\n');
    return;
  }
  // The alerts file is checked before the database is opened: a mistake in it starts nothing.
  const alerts =
    argv.alerts === undefined
      ? undefined
      : await (await import('../profile/alerts-config.js')).loadAlertSettings(argv.alerts);
  const { serveCoordinator } = await import('../coordinator/serve.js');
  const { matrixAsset, matrixHtmlParts, renderOverviewHtml } = await import('../report/html-matrix.js');
  const running = await serveCoordinator({
    ...(alerts ? { alerts } : {}),
    db: argv.db,
    listen: argv.listen!,
    tls: { cert: argv['tls-cert'], key: argv['tls-key'], clientCa: argv['client-ca'] },
    retentionDays: argv['retention-days'],
    limits: {
      ratePerSecond: argv['rate-limit'],
      rateBurst: argv['rate-burst'],
      agentBytesPerDay: argv['agent-bytes-per-day'],
      maxConnections: argv['max-connections'],
      staleAfterHours: argv['stale-after-hours'],
      confirmWindowSeconds: argv['confirm-window'],
    },
    metricsPerAgent: argv['metrics-per-agent'],
    logger,
    page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
  });
  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'coordinator stopping');
      void running.stop().finally(resolve);
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
}
