import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fetchMatrix, fetchReports, type MatrixSource } from '../../src/coordinator/client.js';
import { tempDir } from './coordinator-process.js';

const MATRIX = { agents: [], cells: [], rows: [] };

/** A loopback stand-in for the coordinator: answers every request with one status and body, and keeps the requests. */
async function coordinator(t: Test, status: number, body: string): Promise<{ url: string; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(request);
    response.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function tokenFile(t: Test, text: string): string {
  const file = join(tempDir(t), 'viewer.token');
  writeFileSync(file, text);
  return file;
}

t.test('the matrix is asked for under the base path with the viewer token as a bearer token', async (t) => {
  const { url, seen } = await coordinator(t, 200, JSON.stringify(MATRIX));
  const matrix = await fetchMatrix({ coordinator: `${url}/reachgate/`, tokenFile: tokenFile(t, 'rg_viewer\n') });
  const none = { pass: 0, fail: 0, inconclusive: 0, error: 0, cells: 0, rows: 0, agents: 0, stale_agents: 0, drift: 0 };
  t.same(matrix, { ...MATRIX, drift_count: 0, summary: none }, 'the matrix, its summary counted from its cells');
  t.equal(seen.length, 1);
  t.equal(seen[0]!.url, '/reachgate/api/v1/matrix?results=true&limit=1000&offset=0', 'the first page, with results');
  t.equal(seen[0]!.headers.authorization, 'Bearer rg_viewer');
});

t.test('a refused token names the status and says which token to use', async (t) => {
  const { url } = await coordinator(t, 401, '{"error":"unauthorized",\n "message":"no token"}');
  const answer = '{"error":"unauthorized", "message":"no token"}';
  await t.rejects(fetchMatrix({ coordinator: url, tokenFile: tokenFile(t, 'rg_old') }), {
    name: 'UsageError',
    message: `the coordinator at ${url}/api/v1/matrix answered HTTP 401: ${answer}`,
    hint: 'Use a viewer token: `reachgate token create --viewer`.',
  });
});

t.test('an answer that is not a matrix is a usage error, not a crash', async (t) => {
  for (const body of ['{"cells":[]}', 'not json']) {
    const { url } = await coordinator(t, 200, body);
    const expected = `the coordinator at ${url}/api/v1/matrix did not answer with a matrix`;
    const source = { coordinator: url, tokenFile: tokenFile(t, 'rg_viewer') };
    await t.rejects(fetchMatrix(source), { message: expected }, body);
  }
});

t.test('a coordinator that does not listen is named with the connection error', async (t) => {
  const vacant = createServer();
  await new Promise<void>((resolve) => vacant.listen(0, '127.0.0.1', resolve));
  const closed = `http://127.0.0.1:${(vacant.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => vacant.close(() => resolve()));
  await t.rejects(fetchMatrix({ coordinator: closed, tokenFile: tokenFile(t, 'rg_viewer') }), {
    message: `cannot get the matrix from ${closed}/api/v1/matrix: ECONNREFUSED`,
    hint: /--ca for a private certificate/,
  });
});

t.test('a bad URL, token file or CA file is refused before anything is sent', async (t) => {
  const { url, seen } = await coordinator(t, 200, JSON.stringify(MATRIX));
  const dir = tempDir(t);
  const token = tokenFile(t, 'rg_viewer');
  const notUrl = /^Expected the `--coordinator` option to be a URL like https:\/\/coordinator\.example:8443, got `c`$/;
  const cases: Array<[MatrixSource, RegExp]> = [
    [{ coordinator: 'c', tokenFile: token }, notUrl],
    [{ coordinator: url, tokenFile: join(dir, 'no.token') }, /^cannot read the token file .*no\.token: ENOENT$/],
    [{ coordinator: url, tokenFile: tokenFile(t, 'two words') }, /does not hold a token: expected one line/],
    [{ coordinator: url, tokenFile: token, caFile: join(dir, 'no.pem') }, /^cannot read the CA file .*no\.pem/],
  ];
  for (const [source, message] of cases) {
    await t.rejects(fetchMatrix(source), { name: 'UsageError', message }, message.source);
  }
  t.equal(seen.length, 0, 'nothing reached the coordinator');
});

t.test('a report answer without a length that does not stop is cut at its bound, not read to the end', async (t) => {
  // Bounded too: at most 80 chunks of 1 MiB, and none after the client hangs up.
  let written = 0;
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const more = (): void => {
      while (written < 80 && !response.destroyed) {
        written++;
        if (!response.write(chunk)) return void response.once('drain', more);
      }
      response.end();
    };
    more();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const source = { coordinator: url, tokenFile: tokenFile(t, 'rg_viewer') };
  await t.rejects(fetchReports(source, ['r1']), { message: /answer for report r1 is larger than 67108864 bytes/ });
  t.ok(written < 80, `the client hung up before the server was done (${written} MiB written)`);
});
