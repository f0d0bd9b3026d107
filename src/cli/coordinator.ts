import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Argv } from 'yargs';
import pino from 'pino';
import { UsageError } from '../core/usage-error.js';
import { SqliteStore } from '../coordinator/sqlite-store.js';
import { createCoordinatorServer, type CoordinatorTls } from '../coordinator/server.js';
import { matrixAsset, renderMatrixHtml } from '../report/html-matrix.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const HOUR_MS = 3_600_000;
/** How long a shutdown waits for requests in flight before it closes anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

interface CoordinatorArgs {
  db: string;
  listen: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'client-ca'?: string;
  'retention-days': number;
  'log-level': (typeof LOG_LEVELS)[number];
}

/** Add `reachgate coordinator --db FILE --listen HOST:PORT`. */
export function coordinatorCommand(parser: Argv): Argv {
  return parser.command<CoordinatorArgs>(
    'coordinator',
    'Receive agents\' reports and serve the site\'s matrix (JSON, HTML, Prometheus metrics)',
    (command) => command
      .options({
        db: { type: 'string', demandOption: true, requiresArg: true, describe: 'SQLite file for reports, tokens and the baseline (created if missing)' },
        listen: { type: 'string', demandOption: true, requiresArg: true, describe: 'Address and port to listen on: HOST:PORT, [IPv6]:PORT' },
        'tls-cert': { type: 'string', requiresArg: true, describe: 'Serve HTTPS with this certificate (PEM; with --tls-key)', group: 'TLS:' },
        'tls-key': { type: 'string', requiresArg: true, describe: 'The certificate\'s private key (PEM)', group: 'TLS:' },
        'client-ca': { type: 'string', requiresArg: true, describe: 'Also require client certificates signed by this CA (PEM): mutual TLS', group: 'TLS:' },
        'retention-days': { type: 'number', default: 30, requiresArg: true, describe: 'Delete reports older than this many days, always keeping each agent\'s latest; 0 keeps everything' },
        'log-level': { choices: LOG_LEVELS, default: 'info' as const, describe: 'Log level; logs are JSON lines on stderr' },
      })
      .example('reachgate coordinator --db /var/lib/reachgate/reachgate.db --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem', 'HTTPS for the agents')
      .example('reachgate token create --viewer --db /var/lib/reachgate/reachgate.db', 'then open https://HOST:8443/?token=TOKEN once'),
    async (argv) => {
      await coordinator(argv);
    },
  );
}

async function coordinator(argv: CoordinatorArgs): Promise<void> {
  const { host, port } = parseListen(argv.listen);
  const retentionDays = argv['retention-days'];
  if (!Number.isInteger(retentionDays) || retentionDays < 0 || retentionDays > 36_500) {
    throw new UsageError(`Expected \`--retention-days\` to be a whole number from 0 to 36500, got \`${String(retentionDays)}\``);
  }
  const tls = readTls(argv);
  const logger = pino({ level: argv['log-level'], timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
  const store = SqliteStore.open(argv.db);
  let app;
  try {
    const page = { render: renderMatrixHtml, asset: matrixAsset };
    app = createCoordinatorServer({ store, logger, page, ...(tls ? { tls } : {}) });
  } catch (error) {
    await store.close();
    throw new UsageError(`cannot serve HTTPS with --tls-cert ${argv['tls-cert']} and --tls-key ${argv['tls-key']}: ${(error as Error).message}`);
  }
  try {
    await app.listen({ host, port, listenTextResolver: (address) => `coordinator listening at ${address}` });
  } catch (error) {
    await store.close();
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EADDRNOTAVAIL' ? 'no local interface has that address' : code === 'EACCES' ? 'permission denied (ports below 1024 need privilege)' : (error as Error).message;
    throw new UsageError(`cannot listen on ${argv.listen}: ${why}`);
  }
  logger.info({ db: argv.db, tls: Boolean(tls), client_certificates: Boolean(tls?.ca), retention_days: retentionDays }, 'coordinator ready');

  let retention: NodeJS.Timeout | undefined;
  if (retentionDays > 0) {
    const prune = (): void => {
      const cutoff = new Date(Date.now() - retentionDays * 24 * HOUR_MS);
      store.pruneReports(cutoff).then(
        (deleted) => { if (deleted > 0) logger.info({ deleted, before: cutoff.toISOString() }, 'retention deleted old reports'); },
        (error: unknown) => { logger.error({ err: error }, 'retention failed; it runs again in an hour'); },
      );
    };
    prune();
    retention = setInterval(prune, HOUR_MS);
    retention.unref();
  }

  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'coordinator stopping');
      clearInterval(retention);
      const force = setTimeout(() => {
        logger.warn('requests still in flight after the grace period; closing anyway');
        void store.close().finally(resolve);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      void app.close().then(() => store.close()).finally(() => {
        clearTimeout(force);
        resolve();
      });
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
}

/** HOST:PORT or [IPv6]:PORT; port 0 picks a free one. */
function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!host || !(port >= 0 && port <= 65_535) || (match?.[1] !== undefined && isIP(host) !== 6)) {
    throw new UsageError(`Expected \`--listen\` to be HOST:PORT or [IPv6]:PORT, got \`${text}\``, 'e.g. --listen 127.0.0.1:8080, --listen 0.0.0.0:8443, --listen [::]:8443');
  }
  return { host, port };
}

function readTls(argv: CoordinatorArgs): CoordinatorTls | undefined {
  const certFile = argv['tls-cert'];
  const keyFile = argv['tls-key'];
  const caFile = argv['client-ca'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError('`--tls-cert` and `--tls-key` go together: give both for HTTPS, or neither for plain HTTP');
  }
  if (certFile === undefined || keyFile === undefined) {
    if (caFile !== undefined) throw new UsageError('`--client-ca` needs HTTPS: give `--tls-cert` and `--tls-key` too');
    return undefined;
  }
  const read = (file: string, option: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new UsageError(`cannot read \`${option}\` ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return { cert: read(certFile, '--tls-cert'), key: read(keyFile, '--tls-key'), ...(caFile === undefined ? {} : { ca: read(caFile, '--client-ca') }) };
}
