// The coordinator's HTTP API. Tokens go in `Authorization: Bearer TOKEN`; answers other than
// 2xx/3xx are JSON `{error, message}` (error codes in api-error.ts); never a 5xx for bad input.
//
//   POST /api/v1/reports       agent token   201 {stored: true} new; 200 {duplicate: true} already stored
//                                            (both are the ack, sent after the commit); 400 malformed or
//                                            empty or too deep; 401 no/unknown/revoked token; 403 another
//                                            agent or role, or a viewer token; 409 id stored for another
//                                            agent; 413 over 1 MiB; 415 not JSON; 422 schema, with `path`
//   GET  /api/v1/matrix        viewer        the Matrix (matrix.ts)
//   GET  /api/v1/agents        viewer        {generated_at, agents}
//   GET  /api/v1/reports/:id   viewer        {id, received_at, report} (the JSON as posted); 404
//   POST /api/v1/baseline      viewer        accept the current matrix as the baseline (Authorization only)
//   GET  /metrics              viewer        Prometheus text
//   GET  /                     viewer        the HTML matrix; `/?token=VIEWER` once sets an HttpOnly
//                                            SameSite=Strict cookie and redirects to `/` (GETs accept it)
//   GET  /assets/:name         none          the page's stylesheet and script
//   GET  /healthz              none          {status: 'ok', version}
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Matrix } from '../core/matrix.js';
import { VERSION } from '../core/version.js';
import { ApiError, isApiError } from './api-error.js';
import { baselineOf, buildMatrix } from './matrix.js';
import { CoordinatorMetrics } from './metrics.js';
import { compileReportCheck } from './report-schema.js';
import type { Store, TokenRecord } from './store.js';
import { authenticate, bearerToken } from './tokens.js';
import { ReceiptLedger, registerReceiptRoutes } from './receipts.js';

/** Largest accepted request body: a RunReport of 40 results is about 16 KiB. */
export const BODY_LIMIT = 1024 * 1024;
/** Deepest accepted JSON nesting; a RunReport needs about 6 levels, evidence a few more. */
export const MAX_JSON_DEPTH = 64;
/** The cookie a browser gets after opening `/?token=VIEWER_TOKEN` once. */
export const VIEWER_COOKIE = 'reachgate_viewer';

/** The page's policy: scripts and styles only from /assets/, nothing inline, no framing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Who may call a route: anyone, an agent token, or a viewer token. */
type Access = 'public' | 'agent' | 'viewer';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The authenticated token, on routes that need one. */
    token: TokenRecord | null;
    /** The JSON body exactly as posted, stored as the report's evidence. */
    bodyText: string | null;
  }
}

/** TLS material: with `ca`, clients must also present a certificate signed by it (mutual TLS). */
export interface CoordinatorTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

/** The HTML matrix page and its static files: a report format, handed in by the command that starts the server. */
export interface MatrixPage {
  /** The page for a matrix; it reloads itself every `refreshSeconds` (0: never). */
  render(matrix: Matrix, options: { refreshSeconds?: number }): string;
  /** A static file of the page by its name under /assets/, or null for any other name. */
  asset(name: string): { body: string; contentType: string } | null;
}

/** What the coordinator's HTTP server is built from. */
export interface CoordinatorOptions {
  store: Store;
  logger: Logger;
  page: MatrixPage;
  tls?: CoordinatorTls;
  /** The HTML page reloads itself this often (seconds); 0 turns it off. */
  refreshSeconds?: number;
  /** The clock (tests). */
  now?: () => Date;
}

/** Build the coordinator's HTTP(S) server with every route; the caller listens and closes. */
export function createCoordinatorServer(options: CoordinatorOptions): FastifyInstance {
  const { store, tls } = options;
  const now = options.now ?? (() => new Date());
  const checkReport = compileReportCheck();
  const metrics = new CoordinatorMetrics();
  const app = Fastify({
    loggerInstance: options.logger,
    // One access line per request (onResponse below) instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // A slow or stalled client must not hold a connection for ever.
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200 },
    ...(tls
      ? {
          https: {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
          },
        }
      : {}),
  }) as unknown as FastifyInstance;

  app.decorateRequest('token', null);
  app.decorateRequest('bodyText', null);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    try {
      const text = body as string;
      const value = parseJson(text);
      request.bodyText = text;
      done(null, value);
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  /** Check the presented token against the route's access; throws 401 or 403. */
  const authorize = async (presented: string | undefined, access: Exclude<Access, 'public'>): Promise<TokenRecord> => {
    const result = await authenticate(store, presented);
    if (!result.ok) {
      const challenge =
        presented === undefined
          ? 'Bearer realm="reachgate"'
          : `Bearer realm="reachgate", error="invalid_token", error_description="${result.reason.replace(/["\\]/g, '')}"`;
      throw new ApiError('unauthorized', result.reason, { headers: { 'www-authenticate': challenge } });
    }
    if (result.token.kind !== access) {
      throw new ApiError(
        'forbidden',
        access === 'agent'
          ? 'this route takes an agent token; a viewer token may only read'
          : 'this route takes a viewer token; an agent token may only post its own reports',
      );
    }
    return result.token;
  };

  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access ?? 'public';
    if (access === 'public') return;
    // A browser holds the viewer token in a cookie; only reads accept it, so no form elsewhere can make a change.
    const fromCookie =
      access === 'viewer' && request.method === 'GET' ? cookieValue(request.headers.cookie, VIEWER_COOKIE) : undefined;
    request.token = await authorize(bearerToken(request.headers.authorization) ?? fromCookie, access);
  });

  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route === '/api/v1/reports' && request.method === 'POST') metrics.countIngest(reply.statusCode);
    // An access log line without the query string: `/?token=` must never reach the log.
    request.log.info(
      {
        method: request.method,
        path: pathOf(request),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        token: request.token?.id,
      },
      'request',
    );
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = errorAnswer(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    void reply.code(answer.status).headers(answer.headers).send(answer.body);
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${pathOf(request)}` });
  });

  const receipts = new ReceiptLedger();
  registerReceiptRoutes(app, receipts, now);

  const currentMatrix = async (): Promise<Matrix> => {
    const [latest, accepted] = await Promise.all([store.latestReports(), store.getBaseline()]);
    return buildMatrix(receipts.join(latest, now()), { now: now(), baseline: accepted?.baseline ?? null });
  };

  app.post('/api/v1/reports', { config: { access: 'agent' } }, async (request, reply) => {
    if (request.body === undefined || request.bodyText === null)
      throw new ApiError('bad_request', 'the body is empty: post a RunReport as application/json');
    const checked = checkReport(request.body);
    if ('problem' in checked) {
      const { path, message } = checked.problem;
      throw new ApiError('invalid_report', `the report is not valid: ${path} ${message}`, { details: { path } });
    }
    const { report } = checked;
    const token = request.token!;
    if (report.agent !== token.agent || report.role !== token.role) {
      throw new ApiError(
        'forbidden',
        `this token may only report as agent ${JSON.stringify(token.agent)} with role ` +
          `${JSON.stringify(token.role)}; the report says agent ${JSON.stringify(report.agent)} with role ${JSON.stringify(report.role)}`,
      );
    }
    const outcome = await store.addReport(report, request.bodyText, now());
    if (outcome.stored) return reply.code(201).send({ id: report.id, stored: true, duplicate: false });
    if (outcome.agent !== report.agent) {
      throw new ApiError(
        'duplicate_id_conflict',
        `report id ${report.id} is already stored for another agent; a report needs a fresh id (agents use random UUIDs)`,
      );
    }
    return reply.code(200).send({ id: report.id, stored: false, duplicate: true });
  });

  app.get('/api/v1/matrix', { config: { access: 'viewer' } }, async () => currentMatrix());

  app.get('/api/v1/agents', { config: { access: 'viewer' } }, async () => {
    const matrix = await currentMatrix();
    return { generated_at: matrix.generated_at, agents: matrix.agents };
  });

  app.get<{ Params: { id: string } }>(
    '/api/v1/reports/:id',
    { config: { access: 'viewer' } },
    async (request, reply) => {
      const stored = await store.getReport(request.params.id);
      if (!stored)
        throw new ApiError(
          'not_found',
          `no report with id ${JSON.stringify(request.params.id)} (reports older than the retention period are deleted, except each agent's latest)`,
        );
      // The stored text is the JSON the agent posted, already checked: embed it as it is.
      return reply
        .type('application/json; charset=utf-8')
        .send(
          `{"id":${JSON.stringify(stored.id)},"received_at":${JSON.stringify(stored.received_at)},"report":${stored.json}}`,
        );
    },
  );

  app.post('/api/v1/baseline', { config: { access: 'viewer' } }, async (request) => {
    const matrix = await currentMatrix();
    const baseline = baselineOf(matrix);
    const acceptedAt = now().toISOString();
    await store.setBaseline({ baseline, accepted_at: acceptedAt, accepted_by: request.token!.id });
    return {
      accepted_at: acceptedAt,
      accepted_by: request.token!.id,
      cells: Object.keys(baseline).length,
      agents: matrix.agents.length,
      rows: matrix.rows.length,
    };
  });

  app.get('/healthz', { config: { access: 'public' } }, async () => ({ status: 'ok', version: VERSION }));

  app.get('/metrics', { config: { access: 'viewer' } }, async (_request, reply) => {
    const text = await metrics.render(await currentMatrix(), now());
    return reply.type(metrics.contentType).send(text);
  });

  app.get<{ Querystring: { token?: unknown } }>('/', { config: { access: 'public' } }, async (request, reply) => {
    const fromQuery = request.query.token;
    if (typeof fromQuery === 'string') {
      // Once: trade the token in the address for a cookie, and send the browser to a clean address.
      await authorize(fromQuery, 'viewer');
      const cookie = `${VIEWER_COOKIE}=${fromQuery}; Path=/; HttpOnly; SameSite=Strict${tls ? '; Secure' : ''}`;
      return reply.code(303).header('set-cookie', cookie).header('location', '/').send();
    }
    request.token = await authorize(
      bearerToken(request.headers.authorization) ?? cookieValue(request.headers.cookie, VIEWER_COOKIE),
      'viewer',
    );
    const html = options.page.render(await currentMatrix(), { refreshSeconds: options.refreshSeconds ?? 60 });
    return reply.type('text/html; charset=utf-8').send(html);
  });

  const assets = new Map<string, { body: string; contentType: string } | null>();
  app.get<{ Params: { name: string } }>('/assets/:name', { config: { access: 'public' } }, async (request, reply) => {
    const { name } = request.params;
    let asset = assets.get(name);
    if (asset === undefined) {
      asset = options.page.asset(name);
      if (asset) assets.set(name, asset);
    }
    if (!asset) throw new ApiError('not_found', `no asset ${JSON.stringify(name)}`);
    return reply.type(asset.contentType).header('cache-control', 'max-age=300').send(asset.body);
  });

  return app;
}

/** Parse a JSON body, refusing nesting deeper than MAX_JSON_DEPTH before parsing anything. */
export function parseJson(text: string): unknown {
  if (text.length === 0) throw new ApiError('bad_request', 'the body is empty: post a RunReport as application/json');
  const deep = deepNesting(text, MAX_JSON_DEPTH);
  if (deep !== -1)
    throw new ApiError('json_too_deep', `the JSON nests deeper than ${MAX_JSON_DEPTH} levels (at character ${deep})`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ApiError('malformed_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The offset where JSON text opens its (max + 1)th nested array or object, or -1: a scan, no recursion. */
function deepNesting(text: string, max: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return i;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return -1;
}

/** One cookie's value from a Cookie header (RFC 6265), or undefined. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=');
    if (at !== -1 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

// Fastify's own client errors, with the message a reporter can act on.
const FASTIFY_ERRORS: Record<string, { error: string; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { error: 'body_too_large', message: `the body is larger than ${BODY_LIMIT} bytes` },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { error: 'unsupported_media_type', message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { error: 'bad_request', message: 'the Content-Length does not match the body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    error: 'bad_request',
    message: 'the body is empty: post a RunReport as application/json',
  },
};

/** The status, headers and `{error, message}` body for any error a route or fastify raised. */
function errorAnswer(error: unknown): {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
} {
  if (isApiError(error))
    return {
      status: error.statusCode,
      headers: error.headers,
      body: { error: error.error, message: error.message, ...error.details },
    };
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  const known = typeof code === 'string' ? FASTIFY_ERRORS[code] : undefined;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return {
      status: statusCode,
      headers: {},
      body: known ?? { error: 'bad_request', message: (error as Error).message },
    };
  }
  if (statusCode === 503)
    return {
      status: 503,
      headers: {},
      body: { error: 'shutting_down', message: 'the coordinator is shutting down; retry shortly' },
    };
  return {
    status: 500,
    headers: {},
    body: { error: 'internal', message: 'internal error; the coordinator log has the details' },
  };
}

/** The request's path without its query, which may hold a token. */
function pathOf(request: FastifyRequest): string {
  return request.url.split('?', 1)[0]!;
}
