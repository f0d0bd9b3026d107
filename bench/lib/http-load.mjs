// A lean HTTP/1.1 load generator for the ingest benchmarks: every request is encoded once before the
// clock starts (request line, headers and body in one Buffer), each connection is kept alive and has one
// request in flight, and an answer is read only as far as its status line and Content-Length.
// Its own CPU is what the benchmarks report beside the coordinators'; undici spent several times more.
import { connect } from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');
/** An answer's head larger than this is a fault of the server, not something to buffer. */
const HEAD_MAX = 64 * 1024;

/** One request as bytes: POST `path` with `headers` and `body` (a string or Buffer), to any of the servers. */
export function encodePost(path, headers, body) {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const lines = [`POST ${path} HTTP/1.1`, 'host: localhost', `content-length: ${bytes.length}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), bytes]);
}

/** A keep-alive connection to `url` that sends one encoded request at a time and resolves with its status. */
function connection(url, timeoutMs) {
  const { hostname, port } = new URL(url);
  let socket = null;
  let pending = null;
  let chunks = [];
  let size = 0;
  let need = -1;
  let bodyStart = 0;
  let status = 0;
  let closeAfter = false;
  const fail = (error) => {
    const waiting = pending;
    pending = null;
    socket?.destroy();
    socket = null;
    waiting?.reject(error);
  };
  const onData = (chunk) => {
    chunks.push(chunk);
    size += chunk.length;
    const data = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
    chunks = [data];
    if (need === -1) {
      const end = data.indexOf(HEAD_END);
      if (end === -1) {
        if (size > HEAD_MAX) fail(new Error(`an answer head larger than ${HEAD_MAX} bytes`));
        return;
      }
      const head = data.subarray(0, end).toString('latin1');
      status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) return fail(new Error(`an answer without Content-Length: ${head.slice(0, 200)}`));
      closeAfter = /\r\nconnection: *close/i.test(head);
      bodyStart = end + HEAD_END.length;
      need = bodyStart + Number(length[1]);
    }
    if (size < need) return;
    const body = data.subarray(bodyStart, need);
    const waiting = pending;
    pending = null;
    chunks = [];
    size = 0;
    need = -1;
    if (closeAfter) {
      socket.destroy();
      socket = null;
    }
    waiting.resolve({ status, body });
  };
  const open = () =>
    new Promise((resolve, reject) => {
      const made = connect({ host: hostname, port: Number(port), noDelay: true });
      made.setTimeout(timeoutMs, () => fail(new Error(`no answer within ${timeoutMs} ms`)));
      made.once('connect', () => resolve(made));
      made.once('error', (error) => (pending ? fail(error) : reject(error)));
      made.on('data', onData);
      made.once('close', () => {
        if (socket === made) socket = null;
        if (pending) fail(new Error('the server closed the connection before answering'));
      });
    });
  return {
    async send(bytes) {
      if (!socket) socket = await open();
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        socket.write(bytes);
      });
    },
    close() {
      socket?.destroy();
      socket = null;
    },
  };
}

/**
 * Send every encoded request of `requests` (Buffers) over `connections` keep-alive connections to each of `urls`,
 * one request in flight on each, taking the next request from one shared queue (as a balancer that sends to
 * whichever connection is free); calls `answered(index, status, body, ms)` per answer. Resolves when all are answered.
 */
export async function sendAll(urls, requests, connections, answered, timeoutMs = 120_000) {
  let next = 0;
  await Promise.all(
    urls.flatMap((url) =>
      Array.from({ length: connections }, async () => {
        const link = connection(url, timeoutMs);
        try {
          while (next < requests.length) {
            const index = next++;
            const t0 = performance.now();
            const { status, body } = await link.send(requests[index]);
            answered(index, status, body, performance.now() - t0);
          }
        } finally {
          link.close();
        }
      }),
    ),
  );
}
