import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { AgentLog, Spool } from './spool.js';
import { reportIdOf } from './spool.js';
import { isToken } from '../coordinator/tokens.js';

/** What the coordinator did with one report. */
export type DeliveryOutcome =
  /** Acknowledged (2xx): stored now, or already stored by an earlier attempt. */
  | { kind: 'delivered'; status: number }
  /** Refused for good (400, 409, 413, 422): sending it again cannot help. */
  | { kind: 'rejected'; status: number; message: string }
  /** Not taken now (unreachable, timeout, 5xx, 401, 403, ...): keep it and try later. */
  | { kind: 'retry'; status?: number; message: string };

/** Where and how reports are posted. */
export interface CourierOptions {
  reportsUrl: string;
  tokenFile: string;
  /** PEM of the CA that signed the coordinator's certificate. */
  ca?: Buffer;
  timeoutMs: number;
}

/** Statuses that mean this report will never be accepted. */
// 409: the report id is stored already, for another agent.
const REFUSED_FOR_GOOD = new Set([400, 409, 413, 422]);

/** Posts RunReports to the coordinator with the agent's bearer token. */
export class Courier {
  readonly #options: CourierOptions;
  readonly #dispatcher: Agent;

  constructor(options: CourierOptions) {
    this.#options = options;
    this.#dispatcher = new Agent({
      connect: { timeout: options.timeoutMs, ...(options.ca ? { ca: options.ca } : {}) },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  /** Post one report's JSON; never throws for what the network or the coordinator does. */
  async post(body: string, signal: AbortSignal): Promise<DeliveryOutcome> {
    let token: string;
    try {
      token = readFileSync(this.#options.tokenFile, 'utf8').trim();
    } catch (error) {
      return {
        kind: 'retry',
        message: `cannot read the token file ${this.#options.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      };
    }
    if (!isToken(token))
      return {
        kind: 'retry',
        message:
          `the token file ${this.#options.tokenFile} does not hold a token (one line without spaces): ` +
          'put the token from `reachgate token create` in it',
      };
    try {
      const response = await request(this.#options.reportsUrl, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
        // The whole exchange has one deadline, as a probe does: a coordinator that accepts and never answers must not hold the agent.
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#options.timeoutMs)]),
      });
      const text = await response.body.text();
      const status = response.statusCode;
      if (status >= 200 && status < 300) return { kind: 'delivered', status };
      const message = `HTTP ${status}${answerOf(text)}`;
      if (REFUSED_FOR_GOOD.has(status)) return { kind: 'rejected', status, message };
      return { kind: 'retry', status, message: `${message}${hintFor(status)}` };
    } catch (error) {
      return { kind: 'retry', message: describeError(error, this.#options.reportsUrl, this.#options.timeoutMs) };
    }
  }

  /** Close the connections to the coordinator. */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

/** What one delivery round achieved. */
export interface DeliveryRound {
  delivered: number;
  setAside: number;
  /** Reports still waiting in the spool. */
  remaining: number;
  /** Why the round stopped early, when it did. */
  failure?: string;
}

/** Deliver spooled reports oldest first, deleting each only after its acknowledgement; stop at the first one the coordinator does not take now. */
export async function deliverSpool(
  spool: Spool,
  courier: Courier,
  log: AgentLog,
  signal: AbortSignal,
): Promise<DeliveryRound> {
  const round: DeliveryRound = { delivered: 0, setAside: 0, remaining: 0 };
  for (const entry of spool.entries()) {
    if (signal.aborted) {
      round.failure = 'stopped';
      break;
    }
    let spooled: ReturnType<Spool['read']>;
    try {
      spooled = spool.read(entry);
    } catch (error) {
      round.failure = `cannot read ${entry.path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
      log.error({ file: entry.path, why: round.failure }, 'cannot read a spooled report; it stays for the next round');
      break;
    }
    if (spooled === null) {
      round.setAside += 1;
      continue;
    }
    const outcome = await courier.post(spooled.body, signal);
    if (outcome.kind === 'delivered') {
      spool.remove(entry);
      round.delivered += 1;
      log.info(
        { report_id: spooled.report.id, status: outcome.status, started_at: spooled.report.started_at },
        'report delivered',
      );
    } else if (outcome.kind === 'rejected') {
      spool.setAside(entry, 'rejected', outcome.message);
      round.setAside += 1;
    } else {
      round.failure = outcome.message;
      log.warn(
        { report_id: reportIdOf(entry.name), status: outcome.status, why: outcome.message },
        'delivery failed; the report stays in the spool',
      );
      break;
    }
  }
  round.remaining = spool.entries().length;
  return round;
}

function answerOf(text: string): string {
  const shown = text.replace(/\s+/g, ' ').trim().slice(0, 300);
  return shown ? `: ${shown}` : '';
}

function hintFor(status: number): string {
  if (status === 401) return ' (check the token file: the coordinator does not know this token, or it was revoked)';
  if (status === 403)
    return ' (the token is for another agent or role: check `name` and the profile in the agent config)';
  if (status === 404) return ' (check the coordinator URL: reports go to /api/v1/reports below it)';
  return '';
}

function describeError(error: unknown, url: string, timeoutMs: number): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = (error as { code?: string }).code;
  const name = (error as Error).name;
  if (
    name === 'TimeoutError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return `no answer from ${url} within ${timeoutMs} ms`;
  }
  if (name === 'AbortError') return 'stopped';
  const detail = cause?.code ?? code ?? cause?.message ?? (error as Error).message;
  if (/CERT|SIGNATURE|ISSUER|ALTNAME/.test(detail))
    return `cannot reach ${url}: its TLS certificate is not trusted (${detail}); set \`ca-file\` to the CA that signed it, or check the URL's host name`;
  return `cannot reach ${url}: ${detail}`;
}
