import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { BIN } from '../helpers/cli.js';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { summarize } from '../../src/core/verdict.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { createToken } from '../../src/coordinator/tokens.js';
import type { TokenGrant } from '../../src/coordinator/store.js';
import type { CoordinatorLogLevel } from '../../src/coordinator/logger.js';
import type { ServeOptions } from '../../src/coordinator/serve.js';

/** The part of tap's Test these helpers use. */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** A coordinator process started by a test, on loopback. */
export interface CoordinatorProcess {
  /** http(s)://127.0.0.1:PORT */
  url: string;
  child: ChildProcess;
  /** Every JSON log line it wrote on stderr so far. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (null after a signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A temp dir for one test, removed at its end. */
export function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-coordinator-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Start `reachgate coordinator --db DB --listen 127.0.0.1:0 ...` and wait until it listens (killed at teardown). */
export async function startCoordinator(t: Teardown, db: string, args: string[] = []): Promise<CoordinatorProcess> {
  // Through env(1): tap wraps node processes it sees spawned with its own loader; a user's shell would not.
  const child = spawn(
    'env',
    ['-u', 'NODE_OPTIONS', process.execPath, BIN, 'coordinator', '--db', db, '--listen', '127.0.0.1:0', ...args],
    {
      env: withoutLoader(),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let rest = '';
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the coordinator did not listen within 15 s: ${stderr}`));
    }, 15_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      rest += chunk.toString();
      const lines = rest.split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          const listening = /^coordinator listening at (\S+)$/.exec(String(entry.msg));
          if (listening) {
            clearTimeout(timer);
            resolve(listening[1]!);
          }
        } catch {
          // Not a log line (a Node warning): kept in stderr only.
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the coordinator exited (${code ?? signal}) before listening: ${stderr}`));
    });
  });
  return {
    url,
    child,
    logs,
    exited,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** serveCoordinator's options for an in-process coordinator, without the database, log and page the helper sets. */
export type InProcessOptions = Partial<Omit<ServeOptions, 'db' | 'logger' | 'page'>> & {
  logLevel?: CoordinatorLogLevel;
  /** The YAML file `--alerts FILE` names, loaded as the command loads it. */
  alertsFile?: string;
};

/** A coordinator served in the test's own process, on loopback. */
export interface InProcessCoordinator {
  /** http(s)://127.0.0.1:PORT */
  url: string;
  /** Every JSON log line it wrote so far. */
  logs: Array<Record<string, unknown>>;
  /** Stop it as SIGTERM does (requests in flight finish, the database closes); resolves once it is stopped. */
  stop(): Promise<void>;
}

/**
 * `reachgate coordinator --db DB --listen 127.0.0.1:0` served in this process: the command's own serveCoordinator,
 * logger and page, without starting a process (stopped at teardown). For tests of what the coordinator answers; the
 * tests of the command itself (exit codes, signals, kill -9) start a process with startCoordinator.
 */
export async function serveInProcess(
  t: Teardown,
  db: string,
  options: InProcessOptions = {},
): Promise<InProcessCoordinator> {
  // Loaded here, not with this file: the tests that start processes only do not load the server.
  const [{ coordinatorLogger }, { serveCoordinator }, { matrixAsset, matrixHtmlParts, renderOverviewHtml }] =
    await Promise.all([
      import('../../src/coordinator/logger.js'),
      import('../../src/coordinator/serve.js'),
      import('../../src/report/html-matrix.js'),
    ]);
  const { logLevel, alertsFile, ...serve } = options;
  const alerts =
    alertsFile === undefined
      ? undefined
      : await (await import('../../src/profile/alerts-config.js')).loadAlertSettings(alertsFile);
  const logs: Array<Record<string, unknown>> = [];
  const destination = {
    write: (line: string): void => {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
  const running = await serveCoordinator({
    db,
    listen: '127.0.0.1:0',
    tls: {},
    retentionDays: 30,
    logger: coordinatorLogger(logLevel ?? 'info', destination),
    page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
    ...(alerts ? { alerts } : {}),
    ...serve,
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= running.stop());
  t.teardown(stop);
  return { url: running.url, logs, stop };
}

/** Coordinator options that lift the per-token rate and per-agent byte limits: for tests whose load is the point. */
export const NO_INGEST_LIMITS: readonly string[] = [
  '--rate-limit',
  '100000',
  '--rate-burst',
  '1000000',
  '--agent-bytes-per-day',
  String(2 ** 40),
];

/** The environment without tap's loader hooks: the child runs the compiled CLI as a user would. */
export function withoutLoader(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  return env;
}

/** Make tokens directly in a database file (before the coordinator opens it, or beside it: WAL). */
export async function makeTokens(db: string, grants: TokenGrant[]): Promise<string[]> {
  const store = SqliteStore.open(db);
  try {
    const tokens: string[] = [];
    for (const grant of grants) tokens.push((await createToken(store, grant)).token);
    return tokens;
  } finally {
    await store.close();
  }
}

let reportCounter = 0;

/** A RunReport like an agent posts, with `results` probe results over a few rows. */
export function makeReport(
  agent: string,
  role: string,
  options: { id?: string; results?: number; finishedAt?: Date; intervalS?: number } = {},
): RunReport {
  const finished = options.finishedAt ?? new Date();
  const started = new Date(finished.getTime() - 2000);
  const results: ProbeResult[] = Array.from({ length: options.results ?? 4 }, (_, index) => {
    const blocked = index % 3 === 2;
    return {
      id: `row-${index % 10}/${5900 + index}`,
      row: `row-${index % 10}`,
      kind: 'tcp',
      target: { host: 'tightgate', address: '127.0.0.1', port: 5900 + index, protocol: 'tcp' },
      expect: blocked ? 'blocked' : 'reachable',
      state: blocked ? 'filtered' : 'open',
      verdict: 'pass',
      reason: blocked ? 'no answer within 1 s (1 attempt): silently dropped' : 'connected in 0.4 ms',
      ...(blocked ? {} : { rtt_ms: 0.4 }),
      attempts: 1,
      started_at: started.toISOString(),
      evidence: { banner: 'RFB 003.008' },
    };
  });
  return {
    id: options.id ?? `report-${process.pid}-${++reportCounter}-${Math.random().toString(36).slice(2)}`,
    agent,
    role,
    site: 'lab',
    profile: { name: `tightgate/${role}`, hash: 'ab'.repeat(32) },
    version: '0.1.0',
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    ...(options.intervalS === undefined ? {} : { interval_s: options.intervalS }),
    results,
    summary: summarize(results.map((result) => result.verdict)),
  } as RunReport;
}

/** An HTTP answer with its body read. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

/** One HTTP request, its body read whole, bounded in time. */
export async function call(
  url: string,
  options: {
    method?: Dispatcher.HttpMethod;
    token?: string;
    body?: string | Buffer;
    contentType?: string;
    headers?: Record<string, string>;
    dispatcher?: Dispatcher;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await request(url, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    headersTimeout: 20_000,
    bodyTimeout: 20_000,
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

/** Post a report as an agent. */
export function postReport(
  url: string,
  token: string | undefined,
  report: unknown,
  dispatcher?: Dispatcher,
): Promise<Answer> {
  return call(`${url}/api/v1/reports`, {
    ...(token === undefined ? {} : { token }),
    body: typeof report === 'string' ? report : JSON.stringify(report),
    ...(dispatcher ? { dispatcher } : {}),
  });
}
