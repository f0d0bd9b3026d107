import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentFiles, agentOnce, FakeCoordinator, logLines } from './fleet.js';

/** A test CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`. */
function testCertificates(dir: string): { ca: string; key: string; cert: string } {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 20_000 });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=reachgate test CA');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.ext',
  );
  return {
    ca: join(dir, 'ca.pem'),
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
  };
}

t.test('over HTTPS the agent trusts the coordinator only through its ca-file', async (t) => {
  const probe = await agentFiles(t, 9);
  const { ca, key, cert } = testCertificates(probe.dir);
  const coordinator = await FakeCoordinator.start(t, 0, { key, cert });
  const untrusted = await agentFiles(t, coordinator.port, { coordinator: `https://127.0.0.1:${coordinator.port}` });
  const refused = await agentOnce(untrusted.config);
  t.equal(refused.code, 1, 'a certificate from an unknown CA is not trusted');
  t.match(
    logLines(refused.stderr).find((line) => line.level === 40),
    {
      why: /cannot reach https:\/\/127\.0\.0\.1:\d+\/api\/v1\/reports: its TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); set `ca-file`/,
    },
  );
  t.equal(coordinator.posted.length, 0, 'no report left the agent');
  t.equal(untrusted.spooled().length, 1);

  const trusted = await agentFiles(t, coordinator.port, {
    coordinator: `https://127.0.0.1:${coordinator.port}`,
    'ca-file': ca,
  });
  const delivered = await agentOnce(trusted.config);
  t.equal(delivered.code, 0);
  t.equal(coordinator.stored.size, 1);
  t.match([...coordinator.stored.values()][0], { authorization: `Bearer ${trusted.token}` });
});
