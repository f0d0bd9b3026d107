import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isNonce } from '../core/receipt.js';
import type { ReceiptBook } from './receipt-book.js';

/** Nonces one question may name at most. */
export const NONCES_PER_QUESTION = 64;
/** The path a probe asks: GET /v1/receipts?nonce=rgn-…&nonce=rgn-… with `Authorization: Bearer TOKEN`. */
export const RECEIPTS_PATH = '/v1/receipts';

/** What the side channel needs: the receipts, the shared token, and what the responder watches (for the answer). */
export interface SideChannelOptions {
  book: ReceiptBook;
  token: string;
  watching: { udp: number[]; tcp: number[] };
  startedAt: Date;
}

/**
 * The responder's side channel for a field technician without a coordinator: it answers, to a holder
 * of the shared token, which of the nonces named in the question arrived. It reveals nothing else:
 * no list of receipts, no other probe's nonces.
 */
export function createSideChannel(options: SideChannelOptions): Server {
  const expected = digest(options.token);
  const server = createServer((request, response) => answer(request, response, options, expected));
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

function answer(
  request: IncomingMessage,
  response: ServerResponse,
  options: SideChannelOptions,
  expected: Buffer,
): void {
  // A question has no body: whatever is sent is not read.
  request.resume();
  const url = new URL(request.url ?? '/', 'http://responder.invalid');
  if (url.pathname !== RECEIPTS_PATH) return reply(response, 404, { error: `no such path; ask GET ${RECEIPTS_PATH}` });
  if (request.method !== 'GET') return reply(response, 405, { error: 'only GET is answered' });
  const presented = /^Bearer (\S{1,512})$/.exec(request.headers.authorization ?? '')?.[1];
  if (presented === undefined) return reply(response, 401, { error: 'no token: send `Authorization: Bearer TOKEN`' });
  if (!timingSafeEqual(digest(presented), expected)) return reply(response, 401, { error: 'wrong token' });
  const nonces = url.searchParams.getAll('nonce');
  if (nonces.length === 0 || nonces.length > NONCES_PER_QUESTION)
    return reply(response, 400, { error: `name 1 to ${NONCES_PER_QUESTION} nonces: ?nonce=rgn-…&nonce=…` });
  const bad = nonces.find((nonce: string) => !isNonce(nonce)) as string | undefined;
  if (bad !== undefined)
    return reply(response, 400, {
      error: `not a nonce: ${JSON.stringify(bad.slice(0, 80))} (expected rgn- and 32 hex digits)`,
    });
  reply(response, 200, {
    responder: {
      watching: options.watching,
      started_at: options.startedAt.toISOString(),
      now: new Date().toISOString(),
    },
    receipts: options.book.lookup(nonces),
  });
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
