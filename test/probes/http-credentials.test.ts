import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import http from '../../probes/http.js';
import { loopbackSpec, probeInProcess } from './in-process.js';

// The probe loads undici on its first request, inside that probe's deadline. In a test process every module load goes
// through tap's loader hooks, and on a busy machine that first load outlasted the 1 s deadline: the file's first test
// failed with "no HTTP answer before the deadline" and the rest passed. Loaded here, before any probe, the deadline
// times the answer alone, as it does in the CLI.
await import('undici');

// Where the http probe's credentials go: servers on 127.0.0.1 that record every request they get.

/** A server on 127.0.0.1, port 0 (https with `tls`), keeping the headers of each request; `answer` replies. */
async function recordingServer(
  t: Test,
  answer: (path: string) => { status: number; location?: string },
  tls?: { key: string; cert: string },
): Promise<{ port: number; origin: string; seen: Array<{ path: string; headers: IncomingHttpHeaders }> }> {
  const seen: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  const listener: RequestListener = (request, response) => {
    const path = request.url ?? '';
    seen.push({ path, headers: request.headers });
    const { status, location } = answer(path);
    response.writeHead(status, location ? { location } : {}).end('here');
  };
  const server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { port, origin: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, seen };
}

const CREDENTIALS = ['Authorization: Bearer s3cret', 'Cookie: session=abc', 'Proxy-Authorization: Basic dXNlcjpwdw=='];

t.test('credential headers follow a redirect on the same origin, and are dropped for another origin', async (t) => {
  const elsewhere = await recordingServer(t, () => ({ status: 200 }));
  const first = await recordingServer(t, (path) =>
    path === '/'
      ? { status: 302, location: '/same' }
      : path === '/same'
        ? { status: 307, location: `${elsewhere.origin}/other` }
        : { status: 404 },
  );
  const result = await probeInProcess(
    http,
    loopbackSpec(
      http,
      first.port,
      { 'follow-redirects': true, header: [...CREDENTIALS, 'X-Probe: kept'] },
      { url: `${first.origin}/` },
    ),
  );
  t.match(result, {
    verdict: 'pass',
    evidence: {
      status: 200,
      redirects: [{ status: 302 }, { status: 307 }],
      headers_dropped_on_redirect: ['Authorization', 'Cookie', 'Proxy-Authorization'],
    },
  });
  t.same(
    first.seen.map((request) => [request.path, request.headers.authorization, request.headers.cookie]),
    [
      ['/', 'Bearer s3cret', 'session=abc'],
      ['/same', 'Bearer s3cret', 'session=abc'],
    ],
    'the first origin gets them on every request',
  );
  t.equal(elsewhere.seen.length, 1);
  const [other] = elsewhere.seen;
  t.equal(other!.path, '/other');
  t.notOk(other!.headers.authorization, 'no Authorization for another origin');
  t.notOk(other!.headers.cookie, 'no Cookie');
  t.notOk(other!.headers['proxy-authorization'], 'no Proxy-Authorization');
  t.equal(other!.headers['x-probe'], 'kept', 'other headers still go');
});

t.test('a certificate that fails --ca verification gets no request: the TLS failure is the check', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-http-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const selfSigned = (name: string, san: string): { key: string; cert: string; certFile: string } => {
    const [keyFile, certFile] = [join(dir, `${name}.key`), join(dir, `${name}.pem`)];
    execFileSync(
      'openssl',
      ['req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', keyFile].concat([
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=${san}`,
      ]),
      { stdio: 'ignore', timeout: 20_000 },
    );
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
  };
  const server = selfSigned('web', 'IP:127.0.0.1');
  const stranger = selfSigned('stranger-ca', 'DNS:stranger.test');
  const web = await recordingServer(t, () => ({ status: 200 }), server);
  const probe = (ca: string) =>
    probeInProcess(
      http,
      loopbackSpec(http, web.port, { ca, header: CREDENTIALS[0] }, { url: `${web.origin}/secret`, timeoutMs: 3000 }),
    );

  const refused = await probe(stranger.certFile);
  t.match(refused, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: /^certificate not trusted by --ca: .*; the request was not sent$/ },
    evidence: { tls: { verified: false }, request_sent: false },
  });
  t.notOk((refused.evidence as { status?: number }).status, 'no HTTP status: nothing was asked');
  t.same(web.seen, [], 'the server got no request, so no path and no Authorization');

  const trusted = await probe(server.certFile);
  t.match(trusted, { verdict: 'pass', evidence: { status: 200, tls: { verified: true } } });
  t.same(
    web.seen.map((request) => [request.path, request.headers.authorization]),
    [['/secret', 'Bearer s3cret']],
    'verified, it is asked',
  );
});
