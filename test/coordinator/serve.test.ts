import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import pino from 'pino';
import { parseListen, whyNotListening } from '../../src/coordinator/listen.js';
import { serveCoordinator, type ServeOptions } from '../../src/coordinator/serve.js';
import { matrixAsset, matrixHtmlParts, renderOverviewHtml } from '../../src/report/html-matrix.js';
import { tempDir } from './coordinator-process.js';

t.test('--listen takes HOST:PORT and [IPv6]:PORT, port 0 included', async (t) => {
  t.same(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  t.same(parseListen('coordinator.example:8443'), { host: 'coordinator.example', port: 8443 });
  t.same(parseListen('[::1]:0'), { host: '::1', port: 0 });
  const hint = 'e.g. --listen 127.0.0.1:8080, --listen 0.0.0.0:8443, --listen [::]:8443';
  for (const text of ['127.0.0.1', '127.0.0.1:70000', '[127.0.0.1]:80', '::1:80', 'host:port', ':80']) {
    t.throws(
      () => parseListen(text),
      {
        name: 'UsageError',
        message: `Expected \`--listen\` to be HOST:PORT or [IPv6]:PORT, got \`${text}\``,
        hint,
      },
      text,
    );
  }
});

t.test('a failure to listen is said in the words an operator acts on', async (t) => {
  const failure = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`listen ${code}`), { code });
  t.equal(whyNotListening(failure('EADDRINUSE')), 'the address is in use');
  t.equal(whyNotListening(failure('EADDRNOTAVAIL')), 'no local interface has that address');
  t.equal(whyNotListening(failure('EACCES')), 'permission denied (ports below 1024 need privilege)');
  t.equal(whyNotListening(failure('EINVAL')), 'listen EINVAL');
});

type LogLine = Record<string, unknown>;

/** Serve options on a fresh database, with the log lines kept in memory. */
function options(t: Test, overrides: Partial<ServeOptions> = {}): { serve: ServeOptions; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString()) as LogLine);
      done();
    },
  });
  const serve: ServeOptions = {
    db: join(tempDir(t), 'reachgate.db'),
    listen: '127.0.0.1:0',
    tls: {},
    retentionDays: 30,
    logger: pino({ level: 'info' }, sink),
    page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
    ...overrides,
  };
  return { serve, logs };
}

t.test('a served coordinator answers on the address it logs, and stop closes it', async (t) => {
  const { serve, logs } = options(t);
  const running = await serveCoordinator(serve);
  const listening = logs.map((entry) => /coordinator listening at (\S+)/.exec(String(entry.msg))?.[1]).find(Boolean);
  t.match(listening, /^http:\/\/127\.0\.0\.1:\d+$/);
  const ready = { tls: false, client_certificates: false, retention_days: 30 };
  t.match(
    logs.find((entry) => entry.msg === 'coordinator ready'),
    ready,
  );
  const health = await fetch(`${listening}/healthz`);
  t.equal(health.status, 200);
  await running.stop();
  await t.rejects(fetch(`${listening}/healthz`), { cause: { code: 'ECONNREFUSED' } }, 'nothing listens after stop');
});

t.test('options are checked in the order the command names them, before the database is opened', async (t) => {
  const cases: Array<[Partial<ServeOptions>, RegExp]> = [
    [{ listen: 'nowhere', retentionDays: -1 }, /^Expected `--listen`/],
    [{ retentionDays: -1, tls: { cert: 'cert.pem' } }, /^Expected `--retention-days` to be a whole number from 0/],
    [{ retentionDays: 1.5 }, /got `1\.5`$/],
    [{ tls: { key: 'key.pem' } }, /^`--tls-cert` and `--tls-key` go together/],
    [{ tls: { clientCa: 'ca.pem' } }, /^`--client-ca` needs HTTPS/],
    [{ tls: { cert: '/nonexistent/cert.pem', key: 'key.pem' } }, /^cannot read `--tls-cert` \/nonexistent\/cert\.pem/],
  ];
  t.plan(cases.length);
  for (const [overrides, message] of cases) {
    const { serve } = options(t, { db: '/nonexistent/reachgate.db', ...overrides });
    await t.rejects(serveCoordinator(serve), { name: 'UsageError', message }, message.source);
  }
});
