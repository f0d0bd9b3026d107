import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAgent } from '../../src/agent/main.js';
import type { AgentLogLevel } from '../../src/agent/start.js';
import { isUsageError } from '../../src/core/usage-error.js';

/** The part of tap's Test these helpers use. */
export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** What the stand-in coordinator does with a report. */
export type CoordinatorMode = 'store' | 'fail' | 'hang' | 'refuse';

/** A report as the stand-in coordinator received it. */
export interface Received {
  id: string;
  agent: string;
  role: string | null;
  started_at: string;
  interval_s?: number;
  authorization: string | undefined;
  results: Array<{ row?: string; verdict: string; state: string }>;
}

/**
 * A stand-in for the coordinator's POST /api/v1/reports on 127.0.0.1 (the real coordinator has its
 * own tests): `store` acknowledges (201, 200 for an id it has), `fail` answers 500, `hang` never answers,
 * `refuse` answers 422.
 */
export class FakeCoordinator {
  mode: CoordinatorMode = 'store';
  /** Every report posted, in arrival order, whatever the answer. */
  readonly posted: Received[] = [];
  /** Reports acknowledged, each id once. */
  readonly stored = new Map<string, Received>();
  readonly server: HttpServer | HttpsServer;
  port = 0;

  private constructor(tls?: { key: string; cert: string }) {
    const handle = (request: IncomingMessage, response: ServerResponse): void => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', () => {
        if (request.method !== 'POST' || request.url !== '/api/v1/reports') {
          response.writeHead(404).end();
          return;
        }
        const report = JSON.parse(body) as Received;
        const received = { ...report, authorization: request.headers.authorization };
        this.posted.push(received);
        if (this.mode === 'hang') return;
        if (this.mode === 'fail') {
          response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"database is locked"}');
        } else if (this.mode === 'refuse') {
          response.writeHead(422, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              error: 'invalid_report',
              message: 'the report is not valid: /results/0/verdict must be one of pass, fail, inconclusive, error',
              path: '/results/0/verdict',
            }),
          );
        } else {
          const duplicate = this.stored.has(report.id);
          if (!duplicate) this.stored.set(report.id, received);
          response
            .writeHead(duplicate ? 200 : 201, { 'content-type': 'application/json' })
            .end(JSON.stringify({ id: report.id, stored: !duplicate, duplicate }));
        }
      });
    };
    this.server = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  }

  /** Listen on 127.0.0.1 (on `port`, when the test needs the coordinator to come back where agents expect it), over TLS when given a key and certificate. */
  static async start(t: Teardown, port = 0, tls?: { key: string; cert: string }): Promise<FakeCoordinator> {
    const coordinator = new FakeCoordinator(tls);
    await new Promise<void>((resolve, reject) => {
      coordinator.server.once('error', reject);
      coordinator.server.listen(port, '127.0.0.1', () => resolve());
    });
    coordinator.port = (coordinator.server.address() as AddressInfo).port;
    t.teardown(() => coordinator.stop());
    return coordinator;
  }

  /** Stop listening and cut every connection, hanging ones too. */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** A loopback port nothing listens on (a coordinator that is down). */
export async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP listener on a loopback address that accepts and closes: a service a profile probes. */
export async function listener(t: Teardown, host = '127.0.0.1'): Promise<number> {
  const server: TcpServer = createTcpServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** An agent's files: a loopback site and profile, a token, a config; all in a temp dir removed at teardown. */
export interface AgentFiles {
  dir: string;
  config: string;
  spool: string;
  token: string;
  /** Spooled report files (not set-aside ones), oldest first. */
  spooled(): string[];
  /** Every file in the spool directory. */
  all(): string[];
}

/** Write an agent whose profile probes only 127.0.0.1 and 127.0.0.2 and delivers to 127.0.0.1:coordinatorPort. */
export async function agentFiles(
  t: Teardown,
  coordinatorPort: number,
  extra: Record<string, string | number> = {},
): Promise<AgentFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-agent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const viewer = await listener(t);
  writeFileSync(
    join(dir, 'site.yaml'),
    [
      'site: loopback-lab',
      'hosts:',
      '  tightgate: [127.0.0.1]',
      '  internet-canaries: [127.0.0.2]',
      'settings:',
      '  timeout: 500ms',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'workstation.yaml'),
    [
      'profile: test/loopback-workstation',
      'role: workstation',
      'probes:',
      '  - row: viewer',
      '    kind: tcp',
      '    target: tightgate',
      `    ports: ${viewer}`,
      '  - row: no-direct-internet',
      '    kind: tcp',
      '    target: internet-canaries',
      `    ports: ${viewer}`,
      '    expect: blocked',
      '    control: tightgate',
      '',
    ].join('\n'),
  );
  const token = 'rg_agent_ws01_0123456789abcdef';
  writeFileSync(join(dir, 'token'), `${token}\n`);
  chmodSync(join(dir, 'token'), 0o600);
  const settings: Record<string, string | number> = {
    name: 'ws-01',
    profile: 'workstation.yaml',
    site: 'site.yaml',
    coordinator: `http://127.0.0.1:${coordinatorPort}`,
    'token-file': 'token',
    interval: '1s',
    jitter: '0s',
    spool: 'spool',
    // Long enough for a loaded machine: the test of the deadline itself sets 1s.
    'delivery-timeout': '10s',
    'retry-min': '100ms',
    'retry-max': '400ms',
    ...extra,
  };
  const config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    `${Object.entries(settings)
      .map(([key, value]) => `${key}: ${value}`)
      .join('\n')}\n`,
  );
  const spool = join(dir, 'spool');
  const list = (): string[] => {
    try {
      return readdirSync(spool).sort();
    } catch {
      return [];
    }
  };
  return { dir, config, spool, token, spooled: () => list().filter((name) => name.endsWith('.json')), all: list };
}

/** The JSON log lines of an agent's stderr. */
export function logLines(stderr: string): Array<Record<string, unknown> & { level: number; msg: string }> {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown> & { level: number; msg: string });
}

/** The report id in a spool file name. */
export function idOf(file: string): string {
  return file.replace(/^\d{15}-\d{6}-/, '').replace(/\.json$/, '');
}

/** What an in-process `agentOnce` ended with: the exit code the CLI would give, and what it would write on stderr. */
export interface AgentRun {
  /** 0 everything delivered, 1 reports still spooled, 2 a user's mistake (a UsageError: nothing probed). */
  code: 0 | 1 | 2;
  /** The JSON log lines; after a usage error, its message and hint instead (the CLI prints them under `reachgate: `). */
  stderr: string;
}

/**
 * `reachgate agent --config CONFIG --once` in this process (the agent's own code, as the CLI calls it, with the log
 * kept in memory instead of fd 2): the same cycle, spool and delivery without starting a process. Any other error
 * than a user's mistake is thrown. test/agent/once.test.ts and config.test.ts keep real CLI runs of the command too.
 */
export async function agentOnce(
  config: string,
  options: { logLevel?: AgentLogLevel; allowInsecureTokenFile?: boolean } = {},
): Promise<AgentRun> {
  let stderr = '';
  const destination = {
    write: (line: string): void => {
      stderr += line;
    },
  };
  try {
    const code = await runAgent({
      config,
      once: true,
      logLevel: options.logLevel ?? 'info',
      allowInsecureTokenFile: options.allowInsecureTokenFile === true,
      destination,
      stop: new AbortController().signal,
    });
    return { code, stderr };
  } catch (error) {
    if (!isUsageError(error)) throw error;
    return { code: 2, stderr: `${stderr}${error.message}\n${error.hint === undefined ? '' : `${error.hint}\n`}` };
  }
}
