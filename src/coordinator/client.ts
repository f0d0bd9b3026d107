import { readBounded } from './bounded-file.js';
import { UsageError } from '../core/usage-error.js';
import type { LatestReport, Matrix } from '../core/matrix.js';
import type { RunReport } from '../core/result.js';
import { matrixSummary } from './matrix.js';
import { isToken } from './tokens.js';
import { loadUndici } from '../core/http-parser.js';

/** How long a viewer waits for the coordinator's answer. */
const FETCH_TIMEOUT_MS = 30_000;

/** Where a viewer gets the matrix: the coordinator's base URL, a viewer token file, a private certificate's CA. */
export interface MatrixSource {
  coordinator: string;
  tokenFile: string;
  caFile?: string | undefined;
}

/** Cells asked for per request, with their results. */
const PAGE_CELLS = 1000;
/** Requests at most for one matrix: ten million cells. */
const MAX_PAGES = 10_000;
/** Bytes of one matrix page (cells with their results) read at most. */
const PAGE_ANSWER_MAX = 256 * 1024 * 1024;

/** An open connection to a coordinator with a viewer token: GET its read API, then close. */
export interface CoordinatorReader {
  /** The matrix API's address (errors name it). */
  base: URL;
  /** GET a path of the API (`/api/v1/cell?...`): its status and parsed JSON body (undefined when not JSON); `what` names it in errors. */
  get(path: string, what: string): Promise<{ status: number; body: unknown; text: string }>;
  close(): Promise<void>;
}

/** Connect to a coordinator's read API; a bad URL, token file or CA file is a UsageError. */
export async function openCoordinator(source: MatrixSource): Promise<CoordinatorReader> {
  const base = matrixUrl(source.coordinator);
  const viewer = await connectViewer(source);
  const get = async (path: string, what: string): Promise<{ status: number; body: unknown; text: string }> => {
    try {
      const { status, text } = await viewer.send(
        new URL(path, base),
        PAGE_ANSWER_MAX,
        () => new UsageError(`the coordinator's answer for ${what} is larger than ${PAGE_ANSWER_MAX} bytes`),
      );
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (status === 401 || status === 403) throw refused(base, status, text);
      return { status, body, text };
    } catch (error) {
      if (error instanceof UsageError) throw error;
      const code = failureCode(error);
      throw new UsageError(
        `cannot get ${what} from ${base.href}: ${code}`,
        'Check --coordinator, that the coordinator runs, and --ca for a private certificate.',
      );
    }
  };
  return { base, get, close: () => viewer.close() };
}

/** The coordinator's answer to a request it did not serve, as a UsageError. */
export function refused(base: URL, status: number, text: string): UsageError {
  const answer = text.replace(/\s+/g, ' ').slice(0, 300);
  return new UsageError(
    `the coordinator at ${base.href} answered HTTP ${status}: ${answer}`,
    status === 401 || status === 403 ? 'Use a viewer token: `reachgate token create --viewer`.' : undefined,
  );
}

/**
 * Get the site's whole matrix from a coordinator with a viewer token, page by page with each cell's
 * results; every failure is a UsageError that names the cause.
 */
export async function fetchMatrix(source: MatrixSource): Promise<Matrix> {
  const reader = await openCoordinator(source);
  const { base } = reader;
  try {
    let matrix: Matrix | undefined;
    const agents = new Map<string, Matrix['agents'][number]>();
    for (let offset: number | null = 0, pages = 0; offset !== null && pages < MAX_PAGES; pages++) {
      const page = await fetchPage(reader, `${base.pathname}?results=true&limit=${PAGE_CELLS}&offset=${offset}`);
      if (!matrix) matrix = { ...page, cells: [] };
      matrix.cells.push(...page.cells);
      for (const agent of page.agents) agents.set(agent.name, agent);
      offset = page.page?.next_offset ?? null;
    }
    // The API's summary and drift count may be a large site's last count (summary.as_of): with every cell and agent
    // at hand, the output counts them itself, as the offline matrix does, so its numbers and its exit code are
    // those of the cells it prints.
    const { page: _page, summary: _summary, ...whole } = matrix! as Matrix & { page?: unknown };
    const order = new Map(whole.rows.map((row, index) => [row, index]));
    const columns = [...agents.values()];
    const column = new Map(columns.map((agent, index) => [agent.name, index]));
    // Row by row, as the offline matrix lists them.
    whole.cells.sort(
      (a, b) =>
        (order.get(a.row) ?? 0) - (order.get(b.row) ?? 0) || (column.get(a.agent) ?? 0) - (column.get(b.agent) ?? 0),
    );
    const drift_count = whole.cells.filter((cell) => cell.drift).length + (whole.vanished?.length ?? 0);
    const counted = { ...whole, agents: columns, drift_count };
    return { ...counted, summary: matrixSummary(counted) };
  } finally {
    await reader.close();
  }
}

/** One page of the matrix API. */
async function fetchPage(
  reader: CoordinatorReader,
  path: string,
): Promise<Matrix & { page?: { next_offset: number | null } }> {
  const { status, body, text } = await reader.get(path, 'the matrix');
  if (status !== 200) throw refused(reader.base, status, text);
  const matrix = body as (Matrix & { page?: { next_offset: number | null } }) | undefined;
  if (!Array.isArray(matrix?.cells) || !Array.isArray(matrix.agents) || !Array.isArray(matrix.rows)) {
    throw new UsageError(`the coordinator at ${reader.base.href} did not answer with a matrix`);
  }
  return matrix;
}

/** Reports fetched at once by fetchReports. */
const REPORT_FETCHES = 8;
/** Largest report answer read (bodies are far smaller at ingest: 4,096 results of bounded size). */
const REPORT_ANSWER_MAX = 64 * 1024 * 1024;

/**
 * The stored reports of some ids, as the coordinator holds them (`/api/v1/reports/:id`, viewer token), a few
 * requests at a time; every failure is a UsageError that names the report and the cause.
 */
export async function fetchReports(source: MatrixSource, ids: readonly string[]): Promise<LatestReport[]> {
  const base = new URL(matrixUrl(source.coordinator).href.replace(/matrix$/, 'reports/'));
  const viewer = await connectViewer(source);
  const found: LatestReport[] = new Array(ids.length);
  let next = 0;
  const fetchOne = async (id: string): Promise<LatestReport> => {
    const { status, text } = await viewer.send(
      new URL(encodeURIComponent(id), base),
      REPORT_ANSWER_MAX,
      () => new UsageError(`the coordinator's answer for report ${id} is larger than ${REPORT_ANSWER_MAX} bytes`),
    );
    if (status !== 200)
      throw new UsageError(
        `the coordinator at ${base.origin} answered HTTP ${status} for report ${id}: ${text.replace(/\s+/g, ' ').slice(0, 300)}`,
      );
    const answer = JSON.parse(text) as { received_at?: unknown; report?: Partial<RunReport> };
    if (typeof answer.received_at !== 'string' || typeof answer.report?.id !== 'string')
      throw new UsageError(`the coordinator at ${base.origin} did not answer with report ${id}`);
    return { report: answer.report as RunReport, received_at: answer.received_at };
  };
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const index = next++;
      found[index] = await fetchOne(ids[index]!);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(REPORT_FETCHES, ids.length) }, worker));
    return found;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as { code?: string }).code ?? (error as Error).name;
    throw new UsageError(`cannot get the reports from ${base.origin}: ${code}`);
  } finally {
    await viewer.close();
  }
}

function matrixUrl(base: string): URL {
  try {
    const parsed = new URL(base);
    return new URL(`${parsed.pathname.replace(/\/+$/, '')}/api/v1/matrix`, parsed);
  } catch {
    throw new UsageError(
      `Expected the \`--coordinator\` option to be a URL like https://coordinator.example:8443, got \`${base}\``,
    );
  }
}

/** A token file's and a CA file's bytes read at most: a wrong path (a device, a log) must not be read whole. */
const TOKEN_FILE_MAX = 4096;
const CA_FILE_MAX = 1024 * 1024;

export function readToken(file: string): string {
  const token = readBounded(file, TOKEN_FILE_MAX, 'token file').toString('utf8').trim();
  if (!isToken(token)) {
    throw new UsageError(
      `the token file ${file} does not hold a token: expected one line without spaces`,
      'Put the token that `reachgate token create --viewer` printed in it.',
    );
  }
  return token;
}

export function readCa(file: string): Buffer {
  return readBounded(file, CA_FILE_MAX, 'CA file');
}

/** Largest answer read from a viewer route other than the matrix. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * One JSON request with a viewer token to a route below the coordinator's base URL (`api/v1/...`); resolves
 * to the parsed answer of a 2xx. Any other answer or failure is a UsageError naming it.
 */
export async function viewerCall(
  source: MatrixSource,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
): Promise<unknown> {
  let url: URL;
  try {
    const parsed = new URL(source.coordinator);
    url = new URL(`${parsed.pathname.replace(/\/+$/, '')}/${route}`, parsed);
  } catch {
    throw new UsageError(
      `Expected the \`--coordinator\` option to be a URL like https://coordinator.example:8443, got \`${source.coordinator}\``,
    );
  }
  const viewer = await connectViewer(source);
  try {
    const { status, text } = await viewer.send(
      url,
      MAX_ANSWER_BYTES,
      () => new UsageError(`the coordinator at ${url.href} answered more than ${MAX_ANSWER_BYTES} bytes`),
      { method, body },
    );
    if (status < 200 || status > 299) {
      const answer = text.replace(/\s+/g, ' ').slice(0, 300);
      throw new UsageError(
        `the coordinator at ${url.href} answered HTTP ${status}: ${answer}`,
        status === 401 || status === 403 ? 'Use a viewer token: `reachgate token create --viewer`.' : undefined,
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new UsageError(`the coordinator at ${url.href} did not answer with JSON`);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = failureCode(error);
    throw new UsageError(
      `cannot reach the coordinator at ${url.href}: ${code}`,
      'Check --coordinator, that the coordinator runs, and --ca for a private certificate.',
    );
  } finally {
    await viewer.close();
  }
}

/** A viewer's connection to a coordinator: its token and CA file read once, one undici dispatcher. */
interface ViewerConnection {
  /** One request with the viewer token: its status and answer, read up to `max` bytes (more: `tooLarge()`). */
  send(
    url: URL,
    max: number,
    tooLarge: () => Error,
    call?: { method: 'GET' | 'POST'; body?: unknown },
  ): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

/** Read the source's token and CA files (a bad one is a UsageError) and open a dispatcher for its requests. */
async function connectViewer(source: MatrixSource): Promise<ViewerConnection> {
  const token = readToken(source.tokenFile);
  const ca = source.caFile === undefined ? undefined : readCa(source.caFile);
  // undici is loaded only by the commands that talk to a coordinator.
  const { Agent, request } = await loadUndici();
  const dispatcher = new Agent({ connect: { timeout: FETCH_TIMEOUT_MS, ...(ca ? { ca } : {}) } });
  return {
    async send(url, max, tooLarge, { method, body } = { method: 'GET' }) {
      const json = body === undefined ? {} : { body: JSON.stringify(body) };
      const response = await request(url, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...json,
        dispatcher,
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      return { status: response.statusCode, text: await answerText(response.body, max, tooLarge) };
    },
    close: () => dispatcher.close(),
  };
}

/** What went wrong on the way to the coordinator, as a code: ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, ... */
function failureCode(error: unknown): string {
  return (
    (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code ?? (error as Error).name
  );
}

/** An answer's body read to its end, at most `max` bytes: whatever answers in the coordinator's place may not stop. */
async function answerText(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  max: number,
  tooLarge: () => Error,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
