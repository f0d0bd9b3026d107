import { readFileSync } from 'node:fs';
import type { Agent, Dispatcher } from 'undici';
import type { AgentLog, Spool } from './spool.js';
import { reportIdOf } from './spool.js';
import { isToken } from '../coordinator/tokens.js';
import { API_ERRORS } from '../coordinator/api-error.js';
import { showBytes } from '../net/reply.js';
import { loadUndici } from '../core/http-parser.js';

/** What came back for a report that was not acknowledged: for the log, bounded and escaped. */
export interface ReplySeen {
  content_type: string | null;
  /** The first bytes of the body, escaped (control and non-ASCII bytes as \\xNN). */
  first_bytes: string;
}

/** What the coordinator did with one report. */
export type DeliveryOutcome =
  /** Acknowledged: the coordinator's JSON answer names this report id as stored now, or stored by an earlier attempt. */
  | { kind: 'delivered'; status: number; duplicate: boolean }
  /** Refused for good by the coordinator itself (its JSON error to a 400, 409, 413, 422): sending it again cannot help. */
  | { kind: 'rejected'; status: number; message: string }
  /** Not taken now (unreachable, timeout, 5xx, 401, 403, an answer that is not the coordinator's ...): keep it and try later. */
  | { kind: 'retry'; status?: number; message: string; reply?: ReplySeen };

/** Where and how reports are posted. */
export interface CourierOptions {
  reportsUrl: string;
  tokenFile: string;
  /** PEM of the CA that signed the coordinator's certificate. */
  ca?: Buffer;
  timeoutMs: number;
}

/** Statuses that mean this report will never be accepted, when the coordinator itself says so. */
// 409: the report id is stored already, for another agent.
const REFUSED_FOR_GOOD = new Set([400, 409, 413, 422]);
/** Most bytes of an answer read: the coordinator's answers are below 1 KiB; the rest is never read. */
export const MAX_REPLY_BYTES = 4096;
/** Bytes of an unexpected answer shown in the log. */
const SHOWN_BYTES = 200;

/** Posts RunReports to the coordinator with the agent's bearer token. */
export class Courier {
  readonly #options: CourierOptions;
  /** undici and its connection pool, loaded at the first delivery: a run with nothing to post never loads them. */
  #client: Promise<{ dispatcher: Agent; request: typeof import('undici').request }> | undefined;

  constructor(options: CourierOptions) {
    this.#options = options;
  }

  #connect(): Promise<{ dispatcher: Agent; request: typeof import('undici').request }> {
    this.#client ??= loadUndici().then(({ Agent, request }) => ({
      request,
      dispatcher: new Agent({
        connect: { timeout: this.#options.timeoutMs, ...(this.#options.ca ? { ca: this.#options.ca } : {}) },
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
      }),
    }));
    return this.#client;
  }

  /** Post one report's JSON; never throws for what the network or the coordinator does. */
  async post(body: string, reportId: string, signal: AbortSignal): Promise<DeliveryOutcome> {
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
      const { dispatcher, request } = await this.#connect();
      const response = await request(this.#options.reportsUrl, {
        method: 'POST',
        dispatcher,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
        // The whole exchange has one deadline, as a probe does: a coordinator that accepts and never answers must not hold the agent.
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#options.timeoutMs)]),
      });
      const reply = await readReply(response.body);
      return judgeReply(response.statusCode, contentTypeOf(response.headers['content-type']), reply, reportId);
    } catch (error) {
      return { kind: 'retry', message: describeError(error, this.#options.reportsUrl, this.#options.timeoutMs) };
    }
  }

  /** Close the connections to the coordinator. */
  async close(): Promise<void> {
    if (this.#client) await (await this.#client).dispatcher.close();
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
    const outcome = await courier.post(spooled.body, spooled.report.id, signal);
    if (outcome.kind === 'delivered') {
      spool.remove(entry);
      round.delivered += 1;
      log.info(
        {
          report_id: spooled.report.id,
          status: outcome.status,
          duplicate: outcome.duplicate,
          started_at: spooled.report.started_at,
        },
        'report delivered',
      );
    } else if (outcome.kind === 'rejected') {
      spool.setAside(entry, 'rejected', outcome.message);
      round.setAside += 1;
    } else {
      round.failure = outcome.message;
      log.warn(
        {
          report_id: reportIdOf(entry.name),
          status: outcome.status,
          why: outcome.message,
          ...(outcome.reply ? { reply: outcome.reply } : {}),
        },
        'delivery failed; the report stays in the spool',
      );
      break;
    }
  }
  round.remaining = spool.entries().length;
  return round;
}

/** The first MAX_REPLY_BYTES of an answer's body; the stream is destroyed after, so an endless answer costs nothing more. */
async function readReply(body: Dispatcher.ResponseData['body']): Promise<{ bytes: Buffer; cut: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let cut = false;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_REPLY_BYTES) {
        cut = true;
        break;
      }
    }
  } finally {
    body.destroy();
  }
  return { bytes: Buffer.concat(chunks).subarray(0, MAX_REPLY_BYTES), cut };
}

function contentTypeOf(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  return value === undefined ? null : value.slice(0, 100);
}

/**
 * Only the coordinator's own answers count: `{id, stored: true}` (201) or `{id, duplicate: true}` (200) naming this
 * report acknowledges it; its `{error, message}` JSON to a 400, 409, 413 or 422 refuses it for good. Anything else
 * (a captive portal's HTML, a proxy's error page, JSON about another report, a redirect) keeps it for a later round.
 */
export function judgeReply(
  status: number,
  contentType: string | null,
  reply: { bytes: Buffer; cut: boolean },
  reportId: string,
): DeliveryOutcome {
  const json = reply.cut || !/^application\/json\s*(;|$)/i.test(contentType ?? '') ? null : parseObject(reply.bytes);
  if (json !== null && (status === 200 || status === 201) && json.id === reportId) {
    if (json.stored === true || json.duplicate === true)
      return { kind: 'delivered', status, duplicate: json.duplicate === true };
  }
  if (json !== null && REFUSED_FOR_GOOD.has(status) && isCoordinatorError(json)) {
    return {
      kind: 'rejected',
      status,
      message: `HTTP ${status} ${String(json.error)}: ${String(json.message).slice(0, 300)}`,
    };
  }
  const seen: ReplySeen = { content_type: contentType, first_bytes: showBytes(reply.bytes, SHOWN_BYTES) };
  const size = reply.cut ? `more than ${MAX_REPLY_BYTES} bytes` : `${reply.bytes.length} bytes`;
  const what =
    status >= 200 && status < 300
      ? `HTTP ${status}, but not the coordinator's acknowledgement of report ${reportId}`
      : `HTTP ${status}${reply.bytes.length > 0 ? `: ${seen.first_bytes}` : ''}`;
  return {
    kind: 'retry',
    status,
    message: `${what} (${contentType ?? 'no content type'}, ${size})${hintFor(status)}`,
    reply: seen,
  };
}

function parseObject(bytes: Buffer): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** The coordinator's error shape: `{error: CODE, message: TEXT}` with a code of its catalogue. */
function isCoordinatorError(json: Record<string, unknown>): boolean {
  return typeof json.error === 'string' && Object.hasOwn(API_ERRORS, json.error) && typeof json.message === 'string';
}

function hintFor(status: number): string {
  if (status === 401) return ' (check the token file: the coordinator does not know this token, or it was revoked)';
  if (status === 403)
    return ' (the token is for another agent or role: check `name` and the profile in the agent config)';
  if (status === 404) return ' (check the coordinator URL: reports go to /api/v1/reports below it)';
  if (status >= 300 && status < 400)
    return ' (a redirect is not followed: set `coordinator` to the URL the coordinator itself answers on)';
  if (status >= 200 && status < 300)
    return ' (something between the agent and the coordinator answered: a captive portal or proxy?)';
  if (REFUSED_FOR_GOOD.has(status))
    return " (not the coordinator's own error, so it is retried: a proxy or gateway in between?)";
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
