import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { LatestReport } from '../core/matrix.js';
import { isNonce, type Receipt } from '../core/receipt.js';
import { judgeConfirmation, nonceOf, type HeldReceipt, type ResponderHeartbeat } from '../core/confirmation.js';
import { ApiError } from './api-error.js';

/** Receipts one post may carry at most. */
const RECEIPTS_PER_POST = 1000;
/** Receipts held at most (the oldest go first): far more than a site's one-way rows make in an hour. */
const CAPACITY = 200_000;
/** A responder's interval when its post names none. */
const DEFAULT_INTERVAL_S = 30;

/**
 * What responders reported: receipts by nonce (the first report of a nonce is kept; a later one, a replay,
 * is ignored) and each responder's heartbeat. Held in this coordinator's memory: a restart forgets them,
 * and several coordinators behind a load balancer do not share them.
 */
export class ReceiptLedger {
  readonly #receipts = new Map<string, HeldReceipt>();
  readonly #responders = new Map<string, ResponderHeartbeat>();

  /** Record a responder's post: its heartbeat, and the receipts not held yet; returns how many were new. */
  record(
    responder: { agent: string; role: string },
    receipts: readonly Receipt[],
    intervalS: number,
    at: Date,
  ): number {
    this.#responders.set(responder.agent, { ...responder, last_report_at: at.toISOString(), interval_s: intervalS });
    let added = 0;
    for (const receipt of receipts) {
      if (this.#receipts.has(receipt.nonce)) continue;
      this.#receipts.set(receipt.nonce, { ...receipt, responder: responder.agent, role: responder.role });
      added += 1;
      if (this.#receipts.size > CAPACITY) this.#receipts.delete(this.#receipts.keys().next().value as string);
    }
    return added;
  }

  /** Every agent's latest report with its results that name a responder role joined to the receipts. */
  join(latest: readonly LatestReport[], now: Date): LatestReport[] {
    const responders = [...this.#responders.values()];
    return latest.map((entry) => {
      if (!entry.report.results.some((result) => result.confirm)) return entry;
      const results = entry.report.results.map((result) => {
        if (!result.confirm) return result;
        const nonce = nonceOf(result);
        const joined = judgeConfirmation(result, nonce ? this.#receipts.get(nonce) : undefined, responders, now);
        return joined.verdict === result.verdict ? joined : { ...joined, reported_verdict: result.verdict };
      });
      return { ...entry, report: { ...entry.report, results } };
    });
  }
}

/** Add `POST /api/v1/receipts`: a responder agent reports, with its own token, the nonces it saw. */
export function registerReceiptRoutes(app: FastifyInstance, ledger: ReceiptLedger, now: () => Date): void {
  app.post('/api/v1/receipts', { config: { access: 'agent' } }, async (request, reply) => {
    const token = request.token!;
    const body = request.body as { receipts?: unknown; interval_s?: unknown } | undefined;
    if (body === null || typeof body !== 'object' || !Array.isArray(body.receipts))
      throw new ApiError('bad_request', 'post {"receipts": [...], "interval_s": N} as application/json');
    if (body.receipts.length > RECEIPTS_PER_POST)
      throw new ApiError('bad_request', `at most ${RECEIPTS_PER_POST} receipts a post; got ${body.receipts.length}`);
    const interval = body.interval_s ?? DEFAULT_INTERVAL_S;
    if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1 || interval > 86_400)
      throw new ApiError('bad_request', '`interval_s` must be a whole number of seconds from 1 to 86400');
    const receipts = body.receipts.map((receipt, index) => checkReceipt(receipt, index));
    const added = ledger.record({ agent: token.agent!, role: token.role! }, receipts, interval, now());
    return reply.code(200).send({ accepted: added, ignored: receipts.length - added });
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
