import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { call, makeReport, makeTokens, postReport, startCoordinator, tempDir } from './coordinator-process.js';

// HTTPS on loopback with certificates made by openssl for this test: a server certificate for
// 127.0.0.1, and a CA that signs a client certificate for mutual TLS.
const dir = tempDir(t);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
const openssl = (args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
};
openssl([
  'req',
  '-x509',
  ...EC,
  '-keyout',
  'server.key',
  '-out',
  'server.pem',
  '-days',
  '2',
  '-subj',
  '/CN=127.0.0.1',
  '-addext',
  'subjectAltName=IP:127.0.0.1',
]);
openssl([
  'req',
  '-x509',
  ...EC,
  '-keyout',
  'ca.key',
  '-out',
  'ca.pem',
  '-days',
  '2',
  '-subj',
  '/CN=reachgate test CA',
  '-addext',
  'basicConstraints=critical,CA:TRUE',
  '-addext',
  'keyUsage=critical,keyCertSign',
]);
openssl(['req', '-new', ...EC, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=ws-01']);
writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
openssl([
  'x509',
  '-req',
  '-in',
  'client.csr',
  '-CA',
  'ca.pem',
  '-CAkey',
  'ca.key',
  '-CAcreateserial',
  '-out',
  'client.pem',
  '-days',
  '2',
  '-extfile',
  'client.ext',
]);
const file = (name: string): string => join(dir, name);
const serverCa = readFileSync(file('server.pem'));

const db = file('reachgate.db');
const [agentToken, viewerToken] = (await makeTokens(db, [
  { kind: 'agent', agent: 'ws-01', role: 'workstation' },
  { kind: 'viewer' },
])) as [string, string];

t.test('over HTTPS with a test certificate, reports are stored and the viewer cookie is Secure', async (t) => {
  const coordinator = await startCoordinator(t, db, [
    '--tls-cert',
    file('server.pem'),
    '--tls-key',
    file('server.key'),
  ]);
  t.match(coordinator.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const dispatcher = new Agent({ connect: { ca: serverCa } });
  t.teardown(() => dispatcher.close());
  const report = makeReport('ws-01', 'workstation');
  t.equal((await postReport(coordinator.url, agentToken, report, dispatcher)).status, 201);
  t.equal((await postReport(coordinator.url, agentToken, report, dispatcher)).status, 200);
  const exchange = await call(`${coordinator.url}/?token=${viewerToken}`, { dispatcher });
  t.equal(exchange.status, 303);
  t.match(String(exchange.headers['set-cookie']), /; HttpOnly; SameSite=Strict; Secure$/);
  const untrusting = new Agent();
  t.teardown(() => untrusting.close());
  await t.rejects(
    call(`${coordinator.url}/healthz`, { dispatcher: untrusting }),
    'a client that does not trust the certificate does not connect',
  );
  t.equal((await coordinator.stop()).code, 0);
});

t.test(
  'with --client-ca, a client without a certificate from that CA is turned away in the handshake; with one it still needs a token',
  async (t) => {
    const coordinator = await startCoordinator(t, db, [
      '--tls-cert',
      file('server.pem'),
      '--tls-key',
      file('server.key'),
      '--client-ca',
      file('ca.pem'),
    ]);
    const anonymous = new Agent({ connect: { ca: serverCa } });
    const selfSigned = new Agent({
      connect: { ca: serverCa, cert: readFileSync(file('server.pem')), key: readFileSync(file('server.key')) },
    });
    const client = new Agent({
      connect: { ca: serverCa, cert: readFileSync(file('client.pem')), key: readFileSync(file('client.key')) },
    });
    t.teardown(() => Promise.all([anonymous.close(), selfSigned.close(), client.close()]));
    await t.rejects(
      postReport(coordinator.url, agentToken, makeReport('ws-01', 'workstation'), anonymous),
      'no client certificate: no connection',
    );
    await t.rejects(
      postReport(coordinator.url, agentToken, makeReport('ws-01', 'workstation'), selfSigned),
      'a certificate from another issuer: no connection',
    );
    t.equal((await postReport(coordinator.url, agentToken, makeReport('ws-01', 'workstation'), client)).status, 201);
    t.equal(
      (await postReport(coordinator.url, undefined, makeReport('ws-01', 'workstation'), client)).status,
      401,
      'the certificate does not replace the token',
    );
    t.equal(coordinator.child.exitCode, null, 'refused handshakes do not stop the coordinator');
    t.equal((await coordinator.stop()).code, 0);
  },
);
