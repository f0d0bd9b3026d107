import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import t from 'tap';
import { runAgentResponder } from '../../src/agent/responder.js';
import type { Matrix } from '../../src/core/matrix.js';
import { newNonce } from '../../src/core/receipt.js';
import { createCoordinatorServer } from '../../src/coordinator/server.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { createToken } from '../../src/coordinator/tokens.js';
import { matrixAsset, matrixHtmlParts, renderOverviewHtml } from '../../src/report/html-matrix.js';
import { tempDir } from '../coordinator/coordinator-process.js';

// An agent's `responder:` section on loopback: a datagram to a watched port (a socket holds the port, as
// rsyslogd would) becomes a receipt the agent posts with its own token, and the coordinator joins it.
t.test("the agent's responder posts receipts the coordinator joins to the sending probe", async (t) => {
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') t.fail('needs root for raw sockets');
    else t.plan(0, 'needs root for raw sockets');
    return;
  }
  const dir = tempDir(t);
  const store = SqliteStore.open(join(dir, 'reachgate.db'));
  const app = createCoordinatorServer({
    store,
    logger: pino({ level: 'silent' }),
    page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const stop = new AbortController();
  const service = createSocket('udp4');
  await new Promise<void>((resolve) => service.bind(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    stop.abort();
    service.close();
    await app.close();
    await store.close();
  });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const port = (service.address() as AddressInfo).port;
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, (await createToken(store, { kind: 'agent', agent: 'log-01', role: 'syslog-server' })).token);
  const viewer = (await createToken(store, { kind: 'viewer' })).token;
  const workstation = (await createToken(store, { kind: 'agent', agent: 'ws-01', role: 'workstation' })).token;

  const config = {
    reportsUrl: `${base}/api/v1/reports`,
    tokenFile,
    deliveryTimeoutMs: 5000,
    responder: { udp: [port], tcp: [], intervalMs: 100 },
  };
  const running = runAgentResponder({ config, log: pino({ level: 'silent' }) }, stop.signal);

  const nonce = newNonce();
  const startedAt = new Date();
  const sender = createSocket('udp4');
  // Closed here too: a failed assertion above the end must not leave the socket holding the test open.
  t.teardown(() => sender.close());
  const matrix = async (): Promise<Matrix> =>
    (
      await fetch(`${base}/api/v1/matrix?results=true`, { headers: { authorization: `Bearer ${viewer}` } })
    ).json() as Promise<Matrix>;
  const report = {
    id: `report-${nonce}`,
    agent: 'ws-01',
    role: 'workstation',
    site: 'lab',
    profile: null,
    version: '0.1.0',
    started_at: startedAt.toISOString(),
    finished_at: startedAt.toISOString(),
    results: [
      {
        id: 'workstation/syslog/udp',
        row: 'syslog',
        kind: 'syslog',
        target: { host: '127.0.0.1', address: '127.0.0.1', port, protocol: 'udp' },
        expect: 'reachable',
        state: 'filtered',
        verdict: 'inconclusive',
        reason: 'sent 1 message',
        attempts: 1,
        started_at: startedAt.toISOString(),
        evidence: { nonce },
        confirm: 'syslog-server',
      },
    ],
    summary: { pass: 0, fail: 0, inconclusive: 1, error: 0 },
  };
  const posted = await fetch(`${base}/api/v1/reports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${workstation}`, 'content-type': 'application/json' },
    body: JSON.stringify(report),
  });
  t.equal(posted.status, 201);
  // Resend until the responder's raw socket is open and the receipt reached the coordinator (bounded: 5 s).
  let verdict = 'inconclusive';
  let reason = '';
  for (let tries = 0; tries < 50 && verdict !== 'pass'; tries++) {
    sender.send(`<14>1 - host reachgate - - - probe ${nonce}`, port, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const cell = (await matrix()).cells.find((entry) => entry.row === 'syslog');
    verdict = cell?.verdict ?? 'missing';
    reason = cell?.results[0]?.reason ?? '';
  }
  t.equal(verdict, 'pass', reason);
  t.match(
    reason,
    new RegExp(`delivered: responder log-01 \\(syslog-server\\) saw its nonce on udp/${port} from 127\\.0\\.0\\.1:`),
  );
  stop.abort();
  await running;
});
