import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { isNonce, type Receipt } from '../core/receipt.js';
import { ApiError } from './api-error.js';
import type { Store } from './store.js';

// Far-side receipts: a responder agent posts the nonces it saw with its own token. The store keeps them
// (the first receipt of a nonce; a replay is ignored) and the responder's heartbeat, so that every
// coordinator on the store judges the rows naming `confirm: ROLE` alike (cells.ts, confirm_needs).

/** Receipts one post may carry at most. */
const RECEIPTS_PER_POST = 1000;
/** A responder's interval when its post names none. */
const DEFAULT_INTERVAL_S = 30;

/** Add `POST /api/v1/receipts`: a responder agent reports, with its own token, the nonces it saw. */
export function registerReceiptRoutes(app: FastifyInstance, store: Store, now: () => Date): void {
  app.post('/api/v1/receipts', { config: { access: 'agent' } }, async (request, reply) => {
    const token = request.token!;
    const body = request.body as { id?: unknown; receipts?: unknown; interval_s?: unknown } | undefined;
    if (body === null || typeof body !== 'object' || !Array.isArray(body.receipts))
      throw new ApiError('bad_request', 'post {"receipts": [...], "interval_s": N} as application/json');
    if (body.receipts.length > RECEIPTS_PER_POST)
      throw new ApiError('bad_request', `at most ${RECEIPTS_PER_POST} receipts a post; got ${body.receipts.length}`);
    const id = body.id;
    if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > 200))
      throw new ApiError(
        'bad_request',
        "`id` (the post's, echoed in the acknowledgement) must be a string of 1 to 200 characters",
      );
    const interval = body.interval_s ?? DEFAULT_INTERVAL_S;
    if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1 || interval > 86_400)
      throw new ApiError('bad_request', '`interval_s` must be a whole number of seconds from 1 to 86400');
    const receipts = body.receipts.map((receipt, index) => checkReceipt(receipt, index));
    // A nonce twice in one post: its first receipt is the one kept.
    const first = [...new Map(receipts.reverse().map((receipt) => [receipt.nonce, receipt])).values()];
    const added = await store.addReceipts({
      agent: token.agent!,
      role: token.role!,
      at: now(),
      interval_s: interval,
      receipts: first,
    });
    const ack = { accepted: added, ignored: receipts.length - added };
    return reply.code(200).send(id === undefined ? ack : { id, stored: true, ...ack });
  });
}

function checkReceipt(value: unknown, index: number): Receipt {
  const receipt = value as Partial<Receipt> | null;
  const problem = (what: string): never => {
    throw new ApiError('invalid_report', `receipts[${index}]: ${what}`, { details: { path: `/receipts/${index}` } });
  };
  if (receipt === null || typeof receipt !== 'object') return problem('must be an object');
  if (!isNonce(receipt.nonce)) problem('`nonce` must be rgn- and 32 hex digits');
  if (receipt.protocol !== 'udp' && receipt.protocol !== 'tcp') problem('`protocol` must be udp or tcp');
  if (typeof receipt.source !== 'string' || isIP(receipt.source) === 0) problem('`source` must be an IP address');
  for (const key of ['source_port', 'port'] as const) {
    const port = receipt[key];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
      problem(`\`${key}\` must be a port number`);
  }
  if (typeof receipt.received_at !== 'string' || Number.isNaN(Date.parse(receipt.received_at)))
    problem('`received_at` must be an ISO 8601 time');
  const copies = typeof receipt.copies === 'number' && receipt.copies >= 1 ? Math.floor(receipt.copies) : 1;
  return {
    nonce: receipt.nonce!,
    protocol: receipt.protocol!,
    source: receipt.source!,
    source_port: receipt.source_port!,
    port: receipt.port!,
    received_at: new Date(receipt.received_at!).toISOString(),
    copies,
  };
}
