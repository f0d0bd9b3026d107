import t from 'tap';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LAB, type Lab, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { IN_PROCESS, namespaceCli, probeJson, reachgate } from '../helpers/cli.js';
import type { ResolvedProbeSpec } from '../../src/core/probe-kind.js';
import http, { type HttpOptions } from '../../probes/http.js';

// The probe loads undici on its first request, inside that probe's deadline (see http-loopback.test.ts): loaded here,
// before the in-process probe below, the deadline times the answer alone (it failed under load without this).
await import('undici');

// nginx serves the pages in the server namespace; tinyproxy is the forward proxy in the router
// namespace, so it reaches the server by its own connections while the router filters the client's.
const SERVER = LAB.server.v4;
const PROXY = `http://${LAB.router.clientV4}:3128`;
const PORT = {
  direct: 80,
  dropped: 8081,
  prohibited: 8082,
  proxiedOnly: 8080,
  vacant: 8079,
  tls: 443,
  tlsNotAllowed: 8443,
};

t.test('bad http usage exits 2 with a message that says what was wrong', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      'a target that is not a URL',
      ['198.51.100.10'],
      /The http target `198\.51\.100\.10` is not a URL[\s\S]*http:\/\/HOST\[:PORT\]\/PATH/,
    ],
    ['a URL that is not http', ['ftp://198.51.100.10/'], /`ftp:\/\/198\.51\.100\.10\/` is not an http or https URL/],
    [
      'a status that is not a code',
      ['http://198.51.100.10/', '--expect-status', 'abc'],
      /`--expect-status` option to be status codes, ranges or classes like 200,301-302 or 2xx, got `abc`/,
    ],
    [
      'a status out of range',
      ['http://198.51.100.10/', '--expect-status', '200,999'],
      /`--expect-status` option .* got `200,999`/,
    ],
    [
      'a proxy that is not a URL',
      ['http://198.51.100.10/', '--proxy', 'notaurl'],
      /`--proxy` option to be an HTTP proxy URL like http:\/\/proxy:3128, got `notaurl`/,
    ],
    [
      'a proxy without a port',
      ['http://198.51.100.10/', '--proxy', 'http://192.0.2.1'],
      /The `--proxy` URL `http:\/\/192\.0\.2\.1` names no port/,
    ],
    [
      'a method other than GET or HEAD',
      ['http://198.51.100.10/', '--method', 'POST'],
      /`--method` option to be GET or HEAD, got `POST`/,
    ],
    [
      'a body check on a HEAD request',
      ['http://198.51.100.10/', '--method', 'HEAD', '--expect-body', 'x'],
      /`--expect-body` needs a body/,
    ],
    [
      'a header without a colon',
      ['http://198.51.100.10/', '--header', 'X-Probe'],
      /`--header` option to be `Name: value`, got `X-Probe`/,
    ],
    [
      'a bad body pattern',
      ['http://198.51.100.10/', '--expect-body', '(unclosed'],
      /`--expect-body` option to be a regular expression/,
    ],
  ];
  // The first through the binary; the rest run the same command code in-process (test/helpers/cli-in-process.ts).
  for (const [what, args, message] of cases) {
    const run = await reachgate(['probe', 'http', ...args], what === cases[0]![0] ? {} : { via: IN_PROCESS });
    t.equal(run.code, 2, `${what}: ${run.stderr}`);
    t.match(run.stderr, message, what);
    t.notMatch(run.stderr, /\n\s+at /, `${what}: no stack trace`);
    t.equal(run.stdout, '', `${what}: nothing probed`);
  }
});

t.test('a HOST:PORT target without a URL, as a profile plans it, asks for / there', async (t) => {
  const server = createServer((request, response) => response.end(`path ${request.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const spec = (options: HttpOptions): ResolvedProbeSpec<HttpOptions> => ({
    id: 'profile-row',
    kind: 'http',
    target: { host: '127.0.0.1', address: '127.0.0.1', port, protocol: 'tcp' },
    expect: 'reachable',
    options,
    timeoutMs: 2000,
    attempts: 1,
  });
  const context = { signal: AbortSignal.timeout(2000), icmp: null, icmpNote: undefined };
  const observation = await http.observe(spec(http.parseOptions({})), context);
  t.match(observation, {
    state: 'open',
    check: { ok: true },
    evidence: { url: `http://127.0.0.1:${port}/`, status: 200, body: '"path /"' },
  });
  const proxied = await http.observe(spec(http.parseOptions({ proxy: 'http://127.0.0.1:3128' })), context);
  t.match(proxied, { state: 'error', reason: /through a proxy needs its target as a URL/ });
});

t.test('http on real packets', async (t) => {
  if (needsLab(t)) return;
  const { lab, dir } = await filteredLab(t, 'http', {
    protocols: ['tcp'],
    drop: [PORT.dropped],
    prohibited: [PORT.prohibited],
    more: [`ip saddr 192.0.2.0/24 tcp dport ${PORT.proxiedOnly} drop`],
  });
  await chmod(dir, 0o755);
  const cert = await lab.certificate({ cn: 'web.test', sans: ['web.test', SERVER] });
  const otherCa = await lab.certificate({ cn: 'other-ca.test', sans: ['other-ca.test'] });

  const nginxConf = join(dir, 'nginx.conf');
  await writeFile(
    nginxConf,
    `
    pid ${dir}/nginx.pid;
    error_log stderr;
    events { worker_connections 64; }
    http {
      access_log off;
      client_body_temp_path ${dir}/body;
      proxy_temp_path ${dir}/proxy;
      fastcgi_temp_path ${dir}/fastcgi;
      uwsgi_temp_path ${dir}/uwsgi;
      scgi_temp_path ${dir}/scgi;
      default_type text/plain;
      server {
        listen ${SERVER}:${PORT.direct};
        listen ${SERVER}:${PORT.proxiedOnly};
        listen ${SERVER}:${PORT.tls} ssl;
        listen ${SERVER}:${PORT.tlsNotAllowed} ssl;
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        location = / { return 200 "reachgate test page\\n"; }
        location = /moved { return 301 /; }
        location = /echo-header { return 200 "x-probe=$http_x_probe host=$host\\n"; }
      }
    }`,
  );
  await listening(
    lab,
    lab.ns.server,
    await lab.spawn(lab.ns.server, 'nginx', ['-p', dir, '-e', 'stderr', '-g', 'daemon off;', '-c', nginxConf]),
    'nginx',
    PORT.direct,
  );

  const proxyConf = join(dir, 'tinyproxy.conf');
  await writeFile(
    proxyConf,
    [
      'Port 3128',
      `Listen ${LAB.router.clientV4}`,
      'Timeout 5',
      'LogLevel Info',
      'MaxClients 20',
      'Allow 192.0.2.0/24',
      'ConnectPort 443',
      '',
    ].join('\n'),
  );
  await listening(
    lab,
    lab.ns.router,
    await lab.spawn(lab.ns.router, 'tinyproxy', ['-d', '-c', proxyConf]),
    'tinyproxy',
    3128,
  );

  const client = await namespaceCli(t, lab.ns.client);
  /** Probe from the client namespace and return the one result. */
  const probe = (args: string[]) => probeJson('http', args, { via: client });

  t.test('a page answers 200 with its server header and a body excerpt', async (t) => {
    const { code, result } = await probe([`http://${SERVER}/`]);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      check: { ok: true },
      target: { address: SERVER, port: 80, protocol: 'tcp' },
      evidence: {
        url: `http://${SERVER}/`,
        status: 200,
        status_text: 'OK',
        headers: { server: /^nginx/, 'content-type': 'text/plain' },
        body: '"reachgate test page\\n"',
      },
    });
    t.match(result.reason, /^connected in [\d.]+ ms; HTTP 200 OK$/);
  });

  t.test('a redirect is reported with its Location and not followed by default', async (t) => {
    const { result } = await probe([`http://${SERVER}/moved`]);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      evidence: { status: 301, headers: { location: `http://${SERVER}/` } },
    });
    t.match(
      result.reason,
      /HTTP 301 Moved Permanently, redirect to http:\/\/198\.51\.100\.10\/ \(not followed; --follow-redirects follows it\)/,
    );
  });

  t.test('--follow-redirects follows the redirect to the page', async (t) => {
    const { result } = await probe([`http://${SERVER}/moved`, '--follow-redirects', '--expect-status', '200']);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      evidence: { status: 200, redirects: [{ url: `http://${SERVER}/moved`, status: 301 }] },
    });
    t.match(result.reason, /HTTP 200 OK from http:\/\/198\.51\.100\.10\/ after 1 redirect/);
  });

  t.test('--expect-status fails on a status outside the list and says what came', async (t) => {
    const { code, result } = await probe([`http://${SERVER}/missing`, '--expect-status', '200,301-302']);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: 'HTTP 404 Not Found (expected 200,301-302)' },
    });
    const byDefault = await probe([`http://${SERVER}/missing`]);
    t.match(byDefault.result, { verdict: 'fail', check: { detail: 'HTTP 404 Not Found (expected below 400)' } });
  });

  t.test('--expect-body checks the body, and a mismatch shows the excerpt', async (t) => {
    const good = await probe([`http://${SERVER}/`, '--expect-body', 'test page']);
    t.match(good.result, { verdict: 'pass', check: { detail: /body matched \/test page\// } });
    const bad = await probe([`http://${SERVER}/`, '--expect-body', '^healthy']);
    t.match(bad.result, {
      verdict: 'fail',
      check: { ok: false, detail: 'body did not match /^healthy/: "reachgate test page\\n"' },
    });
  });

  t.test('each --header is sent with the request (Host too), and HEAD gets the status without a body', async (t) => {
    const header = await probe([
      `http://${SERVER}/echo-header`,
      '--header',
      'X-Probe: reachgate',
      '--header',
      'Host: web.test',
    ]);
    t.match(header.result, { evidence: { body: '"x-probe=reachgate host=web.test\\n"' } });
    const head = await probe([`http://${SERVER}/`, '--method', 'HEAD']);
    t.match(head.result, { state: 'open', verdict: 'pass', evidence: { method: 'HEAD', status: 200 } });
    t.notOk((head.result.evidence as { body?: string }).body);
  });

  t.test('https reports the certificate, and --ca verifies it as a check before anything is sent', async (t) => {
    const trusted = await probe([`https://${SERVER}/`, '--ca', cert.certFile]);
    t.match(trusted.result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 443 },
      evidence: {
        status: 200,
        tls: { subject: 'CN=web.test', sans: ['DNS:web.test', `IP Address:${SERVER}`], verified: true },
      },
    });
    t.match(trusted.result.reason, /TLS TLSv1\.[23] CN=web\.test, not after .*, verified; HTTP 200 OK/);
    const untrusted = await probe([`https://${SERVER}/`, '--ca', otherCa.certFile]);
    t.match(untrusted.result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: /not trusted by --ca: .*; the request was not sent$/ },
      evidence: { request_sent: false, tls: { verified: false } },
    });
    t.notOk((untrusted.result.evidence as { status?: number }).status, 'an untrusted server is asked nothing');
  });

  t.test('nothing listening gives closed', async (t) => {
    const { result } = await probe([`http://${SERVER}:${PORT.vacant}/`]);
    t.match(result, { state: 'closed', verdict: 'fail', reason: /refused \(TCP reset\)/ });
  });

  t.test('a drop rule gives filtered within the deadline', async (t) => {
    const { result } = await probe([`http://${SERVER}:${PORT.dropped}/`, '--timeout', '500ms', '--expect', 'blocked']);
    t.match(result, { state: 'filtered', verdict: 'pass', reason: /no answer within 500 ms \(1 attempt\)/ });
  });

  t.test('a reject rule with admin-prohibited gives prohibited and names the router', async (t) => {
    const { result } = await probe([`http://${SERVER}:${PORT.prohibited}/`]);
    t.match(result, {
      state: 'prohibited',
      icmp: { type: 3, code: 13, from: LAB.router.clientV4 },
      reason: /^rejected by 192\.0\.2\.1: ICMP admin-prohibited/,
    });
  });

  t.test('through the proxy a page answers while the direct path to it is dropped', async (t) => {
    const direct = await probe([`http://${SERVER}:${PORT.proxiedOnly}/`, '--timeout', '500ms']);
    t.match(direct.result, { state: 'filtered' });
    const { code, result } = await probe([`http://${SERVER}:${PORT.proxiedOnly}/`, '--proxy', PROXY]);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      target: { address: LAB.router.clientV4, port: 3128 },
      evidence: {
        url: `http://${SERVER}:${PORT.proxiedOnly}/`,
        proxy: PROXY,
        status: 200,
        headers: { via: /tinyproxy/ },
        body: '"reachgate test page\\n"',
      },
    });
    t.match(
      result.reason,
      /^connected via the proxy 192\.0\.2\.1:3128 in [\d.]+ ms; HTTP 200 OK \(through the proxy\)$/,
    );
  });

  t.test("https through the proxy goes by CONNECT and still shows the server's certificate", async (t) => {
    const { result } = await probe([`https://${SERVER}/`, '--proxy', PROXY]);
    t.match(result, { state: 'open', verdict: 'pass', evidence: { status: 200, tls: { subject: 'CN=web.test' } } });
  });

  t.test('a proxy that refuses the CONNECT gives prohibited, with its answer as evidence', async (t) => {
    const { code, result } = await probe([`https://${SERVER}:${PORT.tlsNotAllowed}/`, '--proxy', PROXY]);
    t.equal(code, 1);
    t.match(result, {
      state: 'prohibited',
      verdict: 'fail',
      evidence: { answered_by: 'proxy', status: 403, headers: { server: /tinyproxy/ }, body: /Access violation/ },
    });
    t.match(
      result.reason,
      /^rejected by the proxy 192\.0\.2\.1:3128: its answer to CONNECT 198\.51\.100\.10:8443 was 403; the state is about the path through the proxy$/,
    );
  });

  t.test('a proxy that cannot reach the server gives unreachable, and passes a blocked expectation', async (t) => {
    const { result } = await probe([`https://${LAB.unroutedV4}/`, '--proxy', PROXY, '--expect', 'blocked']);
    t.match(result, { state: 'unreachable', verdict: 'pass', evidence: { answered_by: 'proxy', status: 500 } });
    t.match(result.reason, /^the proxy 192\.0\.2\.1:3128 could not reach the target/);
  });

  t.test('a proxy port where nothing listens gives closed, and the reason names the proxy', async (t) => {
    const { result } = await probe([`http://${SERVER}/`, '--proxy', `http://${LAB.router.clientV4}:3129`]);
    t.match(result, {
      state: 'closed',
      target: { port: 3129 },
      reason: /^the proxy 192\.0\.2\.1:3129: refused \(TCP reset\)/,
    });
  });
});

/** Resolve once `port` listens in `ns`; reject with the daemon's stderr if it exits or takes too long. */
async function listening(lab: Lab, ns: string, child: ChildProcess, name: string, port: number): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout?.resume();
  for (let tries = 0; tries < 100; tries++) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${name} exited before it listened on ${port}: ${stderr.trim()}`);
    const { stdout } = await lab.exec(ns, 'ss', ['-Htln', `sport = :${port}`]);
    if (stdout.trim() !== '') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not listen on ${port} within 10 s: ${stderr.trim()}`);
}
