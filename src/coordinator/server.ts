// The coordinator's HTTP API. Tokens go in `Authorization: Bearer TOKEN`; answers other than
// 2xx/3xx are JSON `{error, message}` (error codes in api-error.ts); never a 5xx for bad input.
//
//   POST /api/v1/reports       agent token   201 {stored: true} new; 200 {duplicate: true} already stored
//                                            (both are the ack, sent after the commit); 400 malformed or
//                                            empty or too deep; 401 no/unknown/revoked token; 403 another
//                                            agent or role, or a viewer token; 409 id stored for another
//                                            agent or with another body; 413 over 1 MiB; 415 not JSON;
//                                            422 schema, bounds or a repeated key, with `path`; 429 over
//                                            the token's rate or the agent's daily bytes, with Retry-After
//   GET  /api/v1/matrix        viewer        one page of the matrix from the cell tables (cells.ts): cells with
//                                            verdict, stale, drift, counts and report id; filters site, role,
//                                            row, agent, verdict, stale, drift; offset and limit; results=true
//                                            embeds each cell's judged results (smaller pages); ETag and
//                                            If-None-Match (304)
//   GET  /api/v1/cell          viewer        ?agent=&row=: one cell with its judged results; 404
//   GET  /api/v1/agents        viewer        {generated_at, agents}
//   GET  /api/v1/reports/:id   viewer        {id, received_at, report} (the JSON as posted); 404
//   POST /api/v1/baseline      viewer        accept the current matrix as the baseline: JSON {approver, change}
//                                            (both required, 1-200 characters; 422 naming the field); appends
//                                            a link to the baseline chain (baseline-chain.ts), 200 with the link
//   GET  /api/v1/baseline/log  viewer        ?limit= (1-100, default 100): {total, links} oldest first, each
//                                            link with the digest of its cells as stored, to verify the chain
//   GET  /metrics              viewer        Prometheus text
//   GET  /                     viewer        the HTML matrix; `/?token=VIEWER` once sets an HttpOnly
//                                            SameSite=Strict cookie and redirects to `/` (GETs accept it)
//   GET  /assets/:name         none          the page's stylesheet and script
//   GET  /healthz              none          {status: 'ok', version}; 503 {status: 'store_unavailable'} when the store does not answer
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { createHash } from 'node:crypto';
import type { Baseline, Matrix, MatrixCell, MatrixOverview, MatrixSummary } from '../core/matrix.js';
import { VERDICTS, type RunReport, type Verdict } from '../core/result.js';
import { summarize } from '../core/verdict.js';
import { VERSION } from '../core/version.js';
import { ApiError, isApiError } from './api-error.js';
import { IngestGuard, type Refusal } from './ingest-guard.js';
import { countKeys, findDuplicateKey, scanJson, topLevelString } from './json-keys.js';
import { resolveLimits, type CoordinatorLimits } from './limits.js';
import { canonicalDigest } from './report-digest.js';
import { approvalProblem } from './baseline-chain.js';
import {
  readAgents,
  readAllAgents,
  readCellPage,
  readCellResults,
  readCellVerdicts,
  readHasBaseline,
  readMatrixState,
  readStaleAgents,
  readRoles,
  readRowsInOrder,
  readSite,
  staleOfVersion,
  type CellFilter,
  type MatrixPageData,
  type MatrixWhole,
  type ReadQuery,
} from './cells.js';
import { CoordinatorMetrics } from './metrics.js';
import { CountKeeper, type CountThresholds, type PendingCounts } from './count-keeper.js';
import { compileReportCheck } from './report-schema.js';
import {
  isStoreUnavailable,
  StoreUnavailableError,
  type AddReportOutcome,
  type Store,
  type TokenRecord,
} from './store.js';
import { authenticate, bearerToken } from './tokens.js';
import { registerReceiptRoutes } from './receipts.js';

/** Largest accepted request body: a RunReport of 40 results is about 16 KiB. */
export const BODY_LIMIT = 1024 * 1024;
/** Deepest accepted JSON nesting; a RunReport needs about 6 levels, evidence a few more. */
export const MAX_JSON_DEPTH = 64;
/** Seconds a client is told to wait (Retry-After) when the store is unavailable. */
export const STORE_RETRY_AFTER_S = 5;
/** Cells per matrix page: by default, at most, and at most with their results embedded. */
export const MATRIX_PAGE = { default: 1000, max: 10_000, maxWithResults: 1000 } as const;
/** Links of the baseline chain listed by one log request at most (each hashes its cells as stored). */
const BASELINE_LOG_MAX = 100;
/** A site of at most this many cells is shown whole on the HTML page; a larger one as counts per role and row. */
const PAGE_CELLS_WHOLE = 2000;
/** Cells (with their results) per drill-down page. */
const PAGE_DRILL_CELLS = 500;
/** Drifted cells and stale agents listed first on the overview. */
const OVERVIEW_FIRST = 50;
/** Milliseconds of page rendering at most between two turns of the event loop. */
const PAGE_SLICE_MS = 4;
/** How long /healthz waits for the store before it answers 503. */
const HEALTH_TIMEOUT_MS = 5000;

/** Links above a drill-down page. */
export interface PageNav {
  text: string;
  links: Array<{ href: string; text: string }>;
}
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
  /**
   * The page for a matrix, in parts whose concatenation is the page; it reloads itself every `refreshSeconds`
   * (0: never); `nav` links above it. The server takes a few parts at a time, letting other requests in between.
   */
  render(matrix: Matrix, options: { refreshSeconds?: number; nav?: PageNav }): Generator<string, void, undefined>;
  /** The page for a site too large to show every cell: counts per role and row, links to drill down. */
  overview(overview: MatrixOverview, options: { refreshSeconds?: number }): string;
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
  /** Rates, budgets, connection limits and timeouts (limits.ts); the defaults where not given. */
  limits?: Partial<CoordinatorLimits>;
  /** The clock (tests). */
  now?: () => Date;
  /** Export per-agent series in /metrics for at most this many agents (0: aggregates only). */
  metricsPerAgent?: number;
  /** When answers wait for a count and how often counts run (count-keeper.ts; tests): the defaults where not given. */
  counts?: CountThresholds;
}

/** Build the coordinator's HTTP(S) server with every route; the caller listens and closes. */
export function createCoordinatorServer(options: CoordinatorOptions): FastifyInstance {
  const { store, tls } = options;
  const now = options.now ?? (() => new Date());
  const checkReport = compileReportCheck();
  const metrics = new CoordinatorMetrics({ perAgent: options.metricsPerAgent ?? 0 });
  const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
  const limits = resolveLimits(options.limits);
  const guard = new IngestGuard(limits);
  // Timeouts are checked every second, not at Node's default 30 s, so a slow client is cut close to them.
  const serverTimeouts = { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: 1000 };
  const app = Fastify({
    loggerInstance: options.logger,
    // One access line per request (onResponse below) instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // A slow or stalled client must not hold a connection for ever.
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: 60_000,
    http: serverTimeouts,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200 },
    ...(tls
      ? {
          https: {
            ...serverTimeouts,
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
          },
        }
      : {}),
  }) as unknown as FastifyInstance;
  // Connections past the limit are closed as they are accepted, before any byte is read.
  app.server.maxConnections = limits.maxConnections;

  app.decorateRequest('token', null);
  app.decorateRequest('bodyText', null);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    async (request: FastifyRequest, body: string | Buffer) => {
      const text = body as string;
      await refuseOverBudget(request, text);
      const value = parseJson(text);
      request.bodyText = text;
      return value;
    },
  );

  /**
   * An agent past its daily byte budget is refused (429) before its report is parsed and checked, which for a
   * flood of 1 MiB reports took most of the event loop, unless the report's id is one this agent already stored: a
   * retry whose ack was lost still gets its ack (the route then finds it stored). Another agent's id does not let a
   * body through: the route would only answer 409 after parsing it.
   */
  const refuseOverBudget = async (request: FastifyRequest, text: string): Promise<void> => {
    const token = request.token;
    if (token?.kind !== 'agent' || token.agent === null || request.routeOptions.url !== '/api/v1/reports') return;
    const refusal = guard.checkBytes(token.agent, Buffer.byteLength(text));
    if (!refusal) return;
    const id = topLevelString(text, 'id');
    const stored = id === null ? null : await store.getReport(id);
    if (stored?.agent !== token.agent) throw tooMany(refusal);
  };

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
    if (access === 'agent') {
      const refusal = guard.admitRequest(request.token.id);
      if (refusal) throw tooMany(refusal);
    }
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
    if (isStoreUnavailable(error)) request.log.warn({ why: error.message }, 'store unavailable');
    else if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    if (CLOSING_STATUSES.has(answer.status)) void reply.header('connection', 'close');
    void reply.code(answer.status).headers(answer.headers).send(answer.body);
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${pathOf(request)}` });
  });

  registerReceiptRoutes(app, store, now);

  // The whole-matrix parts (rows in order, summary, vanished cells, counts): exact for a small site, the last
  // count with its time for a large one while a newer count runs (count-keeper.ts).
  const keeper = new CountKeeper(
    store,
    now,
    (error) => options.logger.warn({ err: error }, 'counting the matrix failed; the last count stays served'),
    options.counts,
  );
  /** The counts to show, and the current state's version and number of cells (an unfiltered page's total). */
  type Counts = { version: string; cells: number; whole: MatrixWhole; summary: MatrixSummary };
  /** The counts for an answer read at `at` (the summary with its as_of and current). */
  const countsAt = async (at: Date): Promise<Counts> => (await countsOrPending(at, true)) as Counts;
  /** The same, or (`wait` false) when a large site's first count runs: when it started. */
  /** While a large site's first count runs: when it started, and the current state's version and number of cells. */
  type Pending = PendingCounts & { version: string; cells: number };
  const countsOrPending = async (at: Date, wait: boolean): Promise<Counts | Pending> => {
    const { version, cells } = await readMatrixState(read, at);
    const shown = await keeper.countsOrPending(version, at, wait);
    if ('pending' in shown) return { ...shown, version, cells };
    // as_of only when the counts are of an earlier state: coordinators answering about one state agree.
    const summary = {
      ...shown.whole.summary,
      current: shown.current,
      ...(shown.current ? {} : { as_of: shown.as_of }),
    };
    return { version, cells, whole: shown.whole, summary };
  };

  /** One page of the matrix, or null when the client's ETag still holds. */
  const matrixPage = async (
    filter: CellFilter,
    withResults: boolean,
    ifNoneMatch: string | undefined,
    counted?: { at: Date; counts: Counts },
  ): Promise<{ etag: string; page: (MatrixPageData & { generated_at: string }) | null }> => {
    const at = counted?.at ?? now();
    const { version, cells: allCells, whole: parts, summary } = counted?.counts ?? (await countsAt(at));
    // Counts of an earlier state are their own version of the answer: a newer count changes the tag.
    const etag = `W/"${createHash('sha256')
      .update(`${version}\n${summary.current ? '' : summary.as_of}\n${JSON.stringify(filter)}\n${withResults}`)
      .digest('base64url')
      .slice(0, 27)}"`;
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*'))
      return { etag, page: null };
    // The cells are always the current state's: their baseline flag and page total too (an unfiltered page's
    // total is the state's, summed over the agents, never the count's).
    const hasBaseline = summary.current ? parts.hasBaseline : await readHasBaseline(read);
    const { cells, total } = await readCellPage(read, filter, at, hasBaseline, allCells);
    if (withResults) {
      const results = await readCellResults(read, cells, at, store.confirmWindowMs);
      cells.forEach((cell, index) => (cell.results = results[index] ?? []));
    }
    const agents = await readAgents(read, [...new Set(cells.map((cell) => cell.agent))], at);
    const next = filter.offset + cells.length;
    return {
      etag,
      page: {
        generated_at: at.toISOString(),
        site: parts.site,
        rows: parts.rows,
        agents,
        cells,
        drift_count: parts.drift_count,
        ...(parts.vanishedCount > 0 ? { vanished: parts.vanished } : {}),
        summary,
        page: { offset: filter.offset, limit: filter.limit, total, next_offset: next < total ? next : null },
      },
    };
  };

  /** The HTML page: the whole matrix for a small site or a drill-down, counts per role and row for a large site. */
  const renderPage = async (query: Record<string, unknown>): Promise<string | Buffer> => {
    const refreshSeconds = options.refreshSeconds ?? 60;
    const drill = ['role', 'row', 'agent', 'offset'].some((name) => query[name] !== undefined);
    const filter: CellFilter = {
      role: text(query, 'role'),
      row: text(query, 'row'),
      agent: text(query, 'agent'),
      offset: whole(query, 'offset', 0, 1_000_000_000, 0),
      limit: drill ? PAGE_DRILL_CELLS : PAGE_CELLS_WHOLE,
    };
    const at = now();
    // The page never waits for a large site's first count: it says so and serves the cells meanwhile.
    const counts = await countsOrPending(at, false);
    const pending = 'pending' in counts ? counts : null;
    if (!drill) {
      if ((pending ? pending.cells : (counts as Counts).whole.summary.cells) > PAGE_CELLS_WHOLE)
        return options.page.overview(
          pending
            ? await countingOverview(pending, at)
            : await overview((counts as Counts).whole, (counts as Counts).summary, at),
          { refreshSeconds },
        );
    }
    const data = pending
      ? await uncountedPage(filter, at, pending.cells)
      : (await matrixPage(filter, false, undefined, { at, counts: counts as Counts })).page!;
    const results = await readCellResults(read, data.cells, new Date(data.generated_at), store.confirmWindowMs);
    const cells: MatrixCell[] = data.cells.map((cell, index) => ({ ...cell, results: results[index] ?? [] }));
    // A drill-down shows only its own rows and its count of cells.
    const rows = drill ? data.rows.filter((row) => cells.some((cell) => cell.row === row)) : data.rows;
    const matrix: Matrix = { ...data, rows, cells };
    if (!drill) return encodeInSlices(options.page.render(matrix, { refreshSeconds }));
    const what = (['role', 'row', 'agent'] as const)
      .filter((name) => filter[name] !== undefined)
      .map((name) => `${name} ${filter[name]}`)
      .join(', ');
    const links = [{ href: '/', text: 'the whole site' }];
    const here = (offset: number): string => {
      const search = new URLSearchParams();
      for (const name of ['role', 'row', 'agent'] as const)
        if (filter[name] !== undefined) search.set(name, filter[name]);
      if (offset > 0) search.set('offset', String(offset));
      return `/?${search.toString()}`;
    };
    if (filter.offset > 0)
      links.push({ href: here(Math.max(0, filter.offset - PAGE_DRILL_CELLS)), text: 'previous cells' });
    if (data.page.next_offset !== null) links.push({ href: here(data.page.next_offset), text: 'next cells' });
    const shown = `cells ${filter.offset + 1} to ${filter.offset + cells.length} of ${data.page.total}`;
    const counting = pending
      ? `; the whole site's cells are being counted (since ${pending.since}): the counts on this page are of its cells`
      : '';
    return encodeInSlices(
      options.page.render(matrix, {
        refreshSeconds,
        nav: { text: `${what || 'every cell'}: ${shown}${counting}`, links },
      }),
    );
  };

  /** One page of cells while the site's first count runs: its summary is of its own cells. */
  const uncountedPage = async (
    filter: CellFilter,
    at: Date,
    allCells: number,
  ): Promise<MatrixPageData & { generated_at: string }> => {
    const { cells, total } = await readCellPage(read, filter, at, await readHasBaseline(read), allCells);
    const agents = await readAgents(read, [...new Set(cells.map((cell) => cell.agent))], at);
    const rows = await readRowsInOrder(read);
    const drift_count = cells.filter((cell) => cell.drift).length;
    const next = filter.offset + cells.length;
    return {
      generated_at: at.toISOString(),
      site: await readSite(read),
      rows,
      agents,
      cells,
      drift_count,
      summary: {
        ...summarize(cells.map((cell) => cell.verdict)),
        cells: cells.length,
        rows: rows.length,
        agents: agents.length,
        stale_agents: agents.filter((agent) => agent.stale).length,
        drift: drift_count,
        current: false,
      },
      page: { offset: filter.offset, limit: filter.limit, total, next_offset: next < total ? next : null },
    };
  };

  /** The overview of a large site whose first count runs: agents, rows and roles to drill into, stale agents first. */
  const countingOverview = async (pending: Pending, at: Date): Promise<MatrixOverview> => {
    const rows = await readRowsInOrder(read);
    // The state read for the answer names its stale agents: not read again.
    const stale = staleOfVersion(pending.version);
    return {
      generated_at: at.toISOString(),
      site: await readSite(read),
      summary: {
        ...summarize([]),
        cells: 0,
        rows: rows.length,
        agents: pending.agents,
        stale_agents: stale,
        drift: 0,
        current: false,
      },
      rows,
      roles: await readRoles(read),
      groups: [],
      drifted: [],
      stale: await readStaleAgents(read, at, OVERVIEW_FIRST),
      counting: { since: pending.since },
    };
  };

  /** Counts per role and row, drifted cells and stale agents first. */
  const overview = async (parts: MatrixWhole, summary: MatrixSummary, at: Date): Promise<MatrixOverview> => {
    const counts = parts.groups;
    const groups = new Map<string, MatrixOverview['groups'][number]>();
    for (const entry of counts) {
      const key = `${entry.role ?? ''}\n${entry.row}`;
      let group = groups.get(key);
      if (!group)
        groups.set(
          key,
          (group = {
            role: entry.role,
            row: entry.row,
            counts: { pass: 0, fail: 0, inconclusive: 0, error: 0 },
            stale: 0,
            drift: 0,
          }),
        );
      group.counts[entry.verdict] += entry.cells;
      group.stale += entry.stale;
      group.drift += entry.drift;
    }
    // Listing drifted cells judges every cell: only when the counts say there are some.
    const drifted =
      parts.hasBaseline && parts.summary.drift > 0
        ? (await readCellPage(read, { drift: true, offset: 0, limit: OVERVIEW_FIRST }, at, true)).cells
        : [];
    return {
      generated_at: at.toISOString(),
      site: parts.site,
      summary,
      rows: parts.rows,
      roles: [...new Set(counts.map((entry) => entry.role))].sort((a, b) =>
        a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1,
      ),
      groups: [...groups.values()],
      drifted: drifted.map((cell) => ({
        agent: cell.agent,
        role: cell.role,
        row: cell.row,
        verdict: cell.verdict,
        ...(cell.baseline !== undefined ? { baseline: cell.baseline } : {}),
      })),
      stale: await readStaleAgents(read, at, OVERVIEW_FIRST),
    };
  };

  /**
   * Check a posted report and hand it to the store, unless its agent is over its byte budget. Synchronous on
   * purpose: the parsed report is dropped here (from the request too) unless it waits for that budget check, so that
   * a request waiting for its batch's commit keeps only its text alive.
   */
  const admitReport = (
    request: FastifyRequest,
  ): { id: string; agent: string; size: number } & (
    | { outcome: Promise<AddReportOutcome>; overBudget: null }
    | { outcome: null; overBudget: { refusal: Refusal; report: RunReport } }
  ) => {
    if (request.body === undefined || request.bodyText === null)
      throw new ApiError('bad_request', 'the body is empty: post a RunReport as application/json');
    const checked = checkReport(request.body);
    request.body = undefined;
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
    // Bytes are reserved before the write and given back if nothing was stored. A retry of a report
    // already stored (its ack was lost) adds nothing, so it gets its answer even over the budget.
    const size = Buffer.byteLength(request.bodyText);
    const refusal = guard.reserveBytes(report.agent, size);
    const admitted = { id: report.id, agent: report.agent, size };
    if (refusal) return { ...admitted, outcome: null, overBudget: { refusal, report } };
    return { ...admitted, outcome: store.addReport(report, request.bodyText, now()), overBudget: null };
  };

  app.post('/api/v1/reports', { config: { access: 'agent' } }, async (request, reply) => {
    const admitted = admitReport(request);
    const { id, agent, size } = admitted;
    let outcomeOf = admitted.outcome;
    if (admitted.overBudget) {
      const { refusal, report } = admitted.overBudget;
      if (!(await store.getReport(id))) throw tooMany(refusal);
      outcomeOf = store.addReport(report, request.bodyText!, now());
    }
    const release = (): void => {
      if (!admitted.overBudget) guard.releaseBytes(agent, size);
    };
    let outcome;
    try {
      outcome = await outcomeOf!;
    } catch (error) {
      release();
      throw error;
    }
    if (outcome.stored) return reply.code(201).send({ id, stored: true, duplicate: false });
    release();
    if (outcome.agent !== agent) {
      throw new ApiError(
        'duplicate_id_conflict',
        `report id ${id} is already stored for another agent; a report needs a fresh id (agents use random UUIDs)`,
      );
    }
    // The same id again is a retry only if it says the same: compare canonical digests, so spacing and key order do not count.
    const stored = await store.getReport(id);
    if (stored && canonicalDigest(JSON.parse(stored.json)) !== canonicalDigest(JSON.parse(request.bodyText!))) {
      throw new ApiError(
        'report_body_conflict',
        `report id ${id} is already stored with a different body; a changed report needs a fresh id`,
      );
    }
    return reply.code(200).send({ id, stored: false, duplicate: true });
  });

  app.get<{ Querystring: Record<string, unknown> }>(
    '/api/v1/matrix',
    { config: { access: 'viewer' } },
    async (request, reply) => {
      const withResults = flag(request.query, 'results') ?? false;
      const filter = cellFilter(request.query, withResults ? MATRIX_PAGE.maxWithResults : MATRIX_PAGE.max);
      const { etag, page } = await matrixPage(filter, withResults, request.headers['if-none-match']);
      void reply.header('etag', etag).header('cache-control', 'private, no-cache');
      if (page === null) return reply.code(304).send();
      return page;
    },
  );

  app.get<{ Querystring: Record<string, unknown> }>(
    '/api/v1/cell',
    { config: { access: 'viewer' } },
    async (request) => {
      const agent = text(request.query, 'agent');
      const row = text(request.query, 'row');
      if (agent === undefined || row === undefined)
        throw new ApiError('bad_request', 'name the cell: /api/v1/cell?agent=NAME&row=ROW');
      const at = now();
      const { cells } = await readCellPage(read, { agent, row, offset: 0, limit: 1 }, at, await readHasBaseline(read));
      const [results] = await readCellResults(read, [{ agent, row }], at, store.confirmWindowMs);
      if (cells.length === 0 || !results)
        throw new ApiError('not_found', `no cell for agent ${JSON.stringify(agent)} and row ${JSON.stringify(row)}`);
      return { generated_at: at.toISOString(), ...cells[0], results };
    },
  );

  app.get('/api/v1/agents', { config: { access: 'viewer' } }, async () => {
    const at = now();
    return { generated_at: at.toISOString(), agents: await readAllAgents(read, at) };
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
    const problem = approvalProblem(request.body);
    if (problem) throw new ApiError('invalid_approval', problem.message, { details: { field: problem.field } });
    const { approver, change } = request.body as { approver: string; change: string };
    const verdicts = await readCellVerdicts(read, now());
    const baseline: Baseline = {};
    for (const cell of verdicts) baseline[`${cell.agent}|${cell.row}`] = cell.verdict;
    const acceptedAt = now().toISOString();
    const link = await store.acceptBaseline({
      baseline,
      accepted_at: acceptedAt,
      accepted_by: request.token!.id,
      approver,
      change,
    });
    return {
      ...link,
      cells: verdicts.length,
      agents: new Set(verdicts.map((cell) => cell.agent)).size,
      rows: new Set(verdicts.map((cell) => cell.row)).size,
    };
  });

  app.get<{ Querystring: Record<string, unknown> }>(
    '/api/v1/baseline/log',
    { config: { access: 'viewer' } },
    async (request) => store.baselineLog(whole(request.query, 'limit', 1, BASELINE_LOG_MAX, BASELINE_LOG_MAX)),
  );

  // Healthy only when the store answers: a load balancer takes a coordinator whose database is unreachable out.
  app.get('/healthz', { config: { access: 'public' } }, async (_request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        read('SELECT 1 AS ok', []),
        new Promise((_resolve, reject) => {
          timer = setTimeout(
            () => reject(new StoreUnavailableError(`the store did not answer within ${HEALTH_TIMEOUT_MS} ms`)),
            HEALTH_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      return reply
        .code(503)
        .header('retry-after', String(STORE_RETRY_AFTER_S))
        .send({ status: 'store_unavailable', version: VERSION, message: error.message });
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ok', version: VERSION };
  });

  app.get('/metrics', { config: { access: 'viewer' } }, async (_request, reply) => {
    const at = now();
    const exposition = await metrics.render(read, at, (await countsAt(at)).whole);
    return reply.type(metrics.contentType).send(exposition);
  });

  app.get<{ Querystring: Record<string, unknown> }>('/', { config: { access: 'public' } }, async (request, reply) => {
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
    const html = await renderPage(request.query);
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

/**
 * A page's parts as UTF-8, rendering and encoding at most about PAGE_SLICE_MS at a time before letting the event
 * loop take the requests that arrived meanwhile: a whole page of 800 cells takes 40-300 ms to render, which other
 * agents' posts would otherwise wait for. Bytes, not one text: a page of several MB written to the socket as a
 * string is encoded there in one go.
 */
export async function encodeInSlices(parts: Iterable<string>, sliceMs: number = PAGE_SLICE_MS): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let slice: string[] = [];
  let sliceStart = performance.now();
  for (const part of parts) {
    slice.push(part);
    if (performance.now() - sliceStart >= sliceMs) {
      chunks.push(Buffer.from(slice.join('')));
      slice = [];
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  chunks.push(Buffer.from(slice.join('')));
  return Buffer.concat(chunks);
}

/** A query parameter given once as text (at most 1,024 characters), or undefined; 400 otherwise. */
function text(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > 1024)
    throw new ApiError(
      'bad_request',
      `the query parameter ${name} must be given once, as text of at most 1024 characters`,
    );
  return value;
}

/** A true/false query parameter, or undefined. */
function flag(query: Record<string, unknown>, name: string): boolean | undefined {
  const value = text(query, name);
  if (value === undefined) return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ApiError('bad_request', `the query parameter ${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** A whole number query parameter in [min, max], or the default. */
function whole(query: Record<string, unknown>, name: string, min: number, max: number, fallback: number): number {
  const value = text(query, name);
  if (value === undefined) return fallback;
  const number = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(number >= min && number <= max))
    throw new ApiError(
      'bad_request',
      `the query parameter ${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  return number;
}

/** The matrix route's filter and page from its query. */
function cellFilter(query: Record<string, unknown>, maxLimit: number): CellFilter {
  const verdict = text(query, 'verdict');
  if (verdict !== undefined && !(VERDICTS as readonly string[]).includes(verdict))
    throw new ApiError(
      'bad_request',
      `the query parameter verdict must be one of ${VERDICTS.join(', ')}, got ${JSON.stringify(verdict)}`,
    );
  return {
    site: text(query, 'site'),
    role: text(query, 'role'),
    row: text(query, 'row'),
    agent: text(query, 'agent'),
    verdict: verdict as Verdict | undefined,
    stale: flag(query, 'stale'),
    drift: flag(query, 'drift'),
    offset: whole(query, 'offset', 0, 1_000_000_000, 0),
    limit: whole(query, 'limit', 1, maxLimit, Math.min(MATRIX_PAGE.default, maxLimit)),
  };
}

/**
 * Parse a JSON body, refusing nesting deeper than MAX_JSON_DEPTH before parsing anything, and a repeated key:
 * one pass counts the text's keys, the parsed value's are counted, and only when they differ is the text
 * searched for the repeated key's path.
 */
export function parseJson(text: string): unknown {
  if (text.length === 0) throw new ApiError('bad_request', 'the body is empty: post a RunReport as application/json');
  const shape = scanJson(text, MAX_JSON_DEPTH);
  if (shape.deep !== -1)
    throw new ApiError(
      'json_too_deep',
      `the JSON nests deeper than ${MAX_JSON_DEPTH} levels (at character ${shape.deep})`,
    );
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new ApiError('malformed_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
  const duplicate =
    value !== null && typeof value === 'object' && countKeys(value) !== shape.keys ? findDuplicateKey(text) : null;
  if (duplicate)
    throw new ApiError(
      'duplicate_key',
      `the JSON repeats the key at ${duplicate.path}: each key once, so that the stored report means what was checked`,
      { details: { path: duplicate.path } },
    );
  return value;
}

/** A 429 with Retry-After. */
function tooMany(refusal: Refusal): ApiError {
  return new ApiError('rate_limited', refusal.message, {
    headers: { 'retry-after': String(refusal.retryAfterS) },
  });
}

/** Answers sent before the body was read: the connection is closed after them instead of reading the rest. */
const CLOSING_STATUSES = new Set([401, 413, 429]);

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
  if (isStoreUnavailable(error))
    return {
      status: 503,
      headers: { 'retry-after': String(STORE_RETRY_AFTER_S) },
      body: { error: 'store_unavailable', message: `${error.message}; retry shortly (nothing was stored)` },
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
