import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import http from '../../probes/http.js';
import { loopbackSpec, probeInProcess, vacantTcpPort } from './in-process.js';

// The probe loads undici on its first request, inside that probe's deadline. In a test process every module load goes
// through tap's loader hooks, and on a busy machine that first load outlasted the 1 s deadline: the file's first test
// failed with "no HTTP answer before the deadline" and the rest passed. Loaded here, before any probe, the deadline
// times the answer alone, as it does in the CLI.
await import('undici');

// The http probe against a node:http server on 127.0.0.1, port 0: no root, no lab.

/** A web server on 127.0.0.1, port 0, answering as `handle` says; returns its base URL. */
async function webServer(
  t: Test,
  handle: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ base: string; port: number }> {
  const server = createServer(handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, port };
}

/** A probe of `url` on the server at `port`, as `reachgate probe http URL` plans it. */
function urlSpec(url: string, port: number, raw: Record<string, unknown> = {}) {
  return loopbackSpec(http, port, raw, { url });
}

t.test('a 200 answer gives open and passes', async (t) => {
  const { base, port } = await webServer(t, (_request, response) => response.end('hello'));
  const result = await probeInProcess(http, urlSpec(`${base}/`, port));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    check: { ok: true, detail: 'HTTP 200 OK' },
    reason: /^connected in .*; HTTP 200 OK$/,
    evidence: { url: `${base}/`, method: 'GET', status: 200, body: '"hello"' },
  });
});

t.test('a 500 answer fails the default status check on an open port', async (t) => {
  const { base, port } = await webServer(t, (_request, response) => {
    response.statusCode = 500;
    response.end();
  });
  const result = await probeInProcess(http, urlSpec(`${base}/`, port));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'HTTP 500 Internal Server Error (expected below 400)' },
    reason: /^connected in .*, but HTTP 500 Internal Server Error \(expected below 400\)$/,
  });
});

t.test('--expect-status accepts the status it names', async (t) => {
  const { base, port } = await webServer(t, (_request, response) => {
    response.statusCode = 404;
    response.end();
  });
  const result = await probeInProcess(http, urlSpec(`${base}/missing`, port, { 'expect-status': '404' }));
  t.match(result, { state: 'open', verdict: 'pass', check: { ok: true, detail: 'HTTP 404 Not Found' } });
});

t.test('a body that matches --expect-body passes both checks', async (t) => {
  const { base, port } = await webServer(t, (_request, response) => response.end('status: healthy'));
  const result = await probeInProcess(http, urlSpec(`${base}/health`, port, { 'expect-body': 'healthy' }));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    check: { ok: true, detail: 'HTTP 200 OK; body matched /healthy/' },
  });
});

t.test('a body that does not match fails the check and shows the body', async (t) => {
  const { base, port } = await webServer(t, (_request, response) => response.end('status: degraded'));
  const result = await probeInProcess(http, urlSpec(`${base}/health`, port, { 'expect-body': 'healthy' }));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'body did not match /healthy/: "status: degraded"' },
    reason: /^connected in .*, but body did not match \/healthy\/: "status: degraded"$/,
  });
});

t.test('a redirect is reported, not followed, by default', async (t) => {
  const { base, port } = await webServer(t, (_request, response) => {
    response.writeHead(302, { location: '/next' });
    response.end();
  });
  const result = await probeInProcess(http, urlSpec(`${base}/`, port));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    check: { ok: true, detail: 'HTTP 302 Found, redirect to /next (not followed; --follow-redirects follows it)' },
    evidence: { status: 302, headers: { location: '/next' } },
  });
});

t.test('--follow-redirects checks the answer at the end of the redirect', async (t) => {
  const { base, port } = await webServer(t, (request, response) => {
    if (request.url === '/') {
      response.writeHead(301, { location: '/next' });
      response.end();
    } else {
      response.end('arrived');
    }
  });
  const spec = urlSpec(`${base}/`, port, { 'follow-redirects': true, 'expect-body': 'arrived' });
  const result = await probeInProcess(http, spec);
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    check: { ok: true, detail: `HTTP 200 OK from ${base}/next after 1 redirect; body matched /arrived/` },
    evidence: { status: 200, redirects: [{ url: `${base}/`, status: 301, location: '/next' }] },
  });
});

t.test('a server that closes without answering fails the check', async (t) => {
  const { base, port } = await webServer(t, (request) => request.socket.destroy());
  const result = await probeInProcess(http, urlSpec(`${base}/`, port));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: /^the connection closed without an HTTP answer/ },
  });
});

t.test('a port that was just closed gives closed', async (t) => {
  const port = await vacantTcpPort();
  const result = await probeInProcess(http, urlSpec(`http://127.0.0.1:${port}/`, port));
  t.match(result, { state: 'closed', verdict: 'fail', reason: /^refused \(TCP reset\) after / });
});
