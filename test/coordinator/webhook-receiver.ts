// A webhook receiver for the alert tests: a real HTTP server on 127.0.0.1 that keeps what it is sent.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunReport } from '../../src/core/result.js';
import { summarize } from '../../src/core/verdict.js';
import { makeReport } from './coordinator-process.js';

/** Bodies the receiver took, by path. */
interface Received {
  path: string;
  body: unknown;
}

const BODY_MAX = 1024 * 1024;
const WAIT_MS = 15_000;

/** A webhook receiver on 127.0.0.1 that keeps what it is sent; `down()` closes it, `up()` listens again on its port. */
export async function receiver(t: { teardown(fn: () => unknown): void }) {
  const received: Received[] = [];
  let port = 0;
  let server: Server | undefined;
  const handle = (request: IncomingMessage, respond: (status: number) => void): void => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > BODY_MAX) request.destroy();
    });
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: JSON.parse(text) as unknown });
      respond(request.url === '/moved' ? 302 : 200);
    });
  };
  const up = async (): Promise<void> => {
    const listening = createServer((request, response) =>
      handle(request, (status) =>
        response.writeHead(status, status === 302 ? { location: '/api/v2/alerts' } : {}).end('ok'),
      ),
    );
    listening.headersTimeout = 5000;
    listening.requestTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(port, '127.0.0.1', () => resolve());
    });
    port = (listening.address() as AddressInfo).port;
    server = listening;
  };
  const down = async (): Promise<void> => {
    const closing = server;
    server = undefined;
    closing?.closeAllConnections();
    await new Promise<void>((resolve) => (closing ? closing.close(() => resolve()) : resolve()));
  };
  t.teardown(down);
  await up();
  return { received, up, down, url: (path: string) => `http://127.0.0.1:${port}${path}` };
}

/** Wait (bounded) until `ready` holds; fails with `what` otherwise. */
export async function until(what: string, ready: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A report of `agent` whose row-0 fails (drift) or all of whose rows pass as accepted. */
export function report(agent: string, drift: boolean, intervalS?: number): RunReport {
  const made = makeReport(agent, 'workstation', { results: 4, ...(intervalS ? { intervalS } : {}) });
  if (drift) {
    made.results[0] = { ...made.results[0]!, state: 'closed', verdict: 'fail', reason: 'refused' };
    made.summary = summarize(made.results.map((result) => result.verdict));
  }
  return made;
}
