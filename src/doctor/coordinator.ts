import { readFileSync, statSync } from 'node:fs';
import type { Agent } from 'undici';
import type { AgentConfig } from '../agent/config.js';
import { isToken } from '../coordinator/tokens.js';
import { formatMs } from '../core/duration.js';
import { VERSION } from '../core/version.js';
import type { Finding } from './finding.js';
import { loadUndici } from '../core/http-parser.js';

/** Longest wait for one answer: doctor is run by a person waiting at a prompt. */
const MAX_WAIT_MS = 10_000;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

/** Whether the agent's coordinator answers (GET /healthz) and takes the agent's token (an empty POST to the reports route). */
export async function checkCoordinator(config: AgentConfig): Promise<Finding[]> {
  const timeoutMs = Math.min(config.deliveryTimeoutMs, MAX_WAIT_MS);
  const healthUrl = config.reportsUrl.replace(/\/api\/v1\/reports$/, '/healthz');
  let ca: Buffer | undefined;
  if (config.caFile !== undefined) {
    try {
      ca = readFileSync(config.caFile);
    } catch (error) {
      return [
        {
          check: 'coordinator',
          subject: healthUrl,
          status: 'fail',
          message: `cannot read the ca-file ${config.caFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          fix: `put the PEM of the CA that signed the coordinator's certificate at ${config.caFile}, readable by the agent`,
        },
      ];
    }
  }
  // undici is loaded only when there is a coordinator to ask: `reachgate doctor` without an agent config never loads it.
  const { Agent } = await loadUndici();
  const dispatcher = new Agent({
    connect: { timeout: timeoutMs, ...(ca ? { ca } : {}) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  try {
    const health = await call(dispatcher, healthUrl, 'GET', timeoutMs);
    const reachability = healthFinding(healthUrl, health);
    const token =
      reachability.status === 'ok'
        ? await tokenFinding(config, dispatcher, timeoutMs)
        : {
            check: 'token',
            subject: config.tokenFile,
            status: 'skip' as const,
            message: 'the coordinator did not answer: the token was not checked',
            fix: 'fix the coordinator finding first',
          };
    return [reachability, token];
  } finally {
    await dispatcher.close();
  }
}

function healthFinding(url: string, answer: Answer | { error: string }): Finding {
  const check = 'coordinator';
  if ('error' in answer) {
    const { hostname, port, protocol } = new URL(url);
    const fix = /certificate|CERT|SIGNATURE|ISSUER|ALTNAME/.test(answer.error)
      ? "set `ca-file` in the agent config to the CA that signed the coordinator's certificate, or check the URL's host name"
      : 'is the coordinator running and listening there? test the path from here: ' +
        `reachgate probe tcp ${hostname}:${port || (protocol === 'https:' ? 443 : 80)}`;
    return { check, subject: url, status: 'fail', message: `cannot reach the coordinator: ${answer.error}`, fix };
  }
  if (answer.status !== 200 || answer.body.status !== 'ok') {
    return {
      check,
      subject: url,
      status: 'fail',
      message: `the coordinator answered HTTP ${answer.status}${errorText(answer)} instead of its health`,
      fix: "check the coordinator URL in the agent config (reports go to /api/v1/reports below it) and the coordinator's log",
    };
  }
  const version = typeof answer.body.version === 'string' ? answer.body.version : 'unknown';
  const same = version === VERSION ? '' : ` (this agent is ${VERSION})`;
  return {
    check,
    subject: url,
    status: 'ok',
    message: `the coordinator answers in ${formatMs(answer.ms)}: reachgate ${version}${same}`,
    evidence: { version, ms: Math.round(answer.ms * 10) / 10 },
  };
}

async function tokenFinding(config: AgentConfig, dispatcher: Agent, timeoutMs: number): Promise<Finding> {
  const check = 'token';
  const subject = config.tokenFile;
  const create =
    `on the coordinator: reachgate token create --agent ${config.name} --role ${config.role} --db DB, ` +
    `and put the token it prints in ${config.tokenFile} (chmod 600)`;
  let token: string;
  try {
    token = readFileSync(config.tokenFile, 'utf8').trim();
  } catch (error) {
    return {
      check,
      subject,
      status: 'fail',
      message: `cannot read the token file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      fix: create,
    };
  }
  if (!isToken(token))
    return {
      check,
      subject,
      status: 'fail',
      message: 'the token file does not hold a token (one line without spaces)',
      fix: create,
    };
  // The reports route checks the token before it looks at the body: an empty POST stores nothing, and a good
  // agent token gets 400 (no body) where a bad one gets 401 and a viewer token 403.
  const answer = await call(dispatcher, config.reportsUrl, 'POST', timeoutMs, token);
  if ('error' in answer)
    return {
      check,
      subject,
      status: 'fail',
      message: `the token check did not get an answer: ${answer.error}`,
      fix: "run doctor again; if it persists, look at the coordinator's log",
    };
  if (answer.status === 400) {
    const loose = (statSync(config.tokenFile).mode & 0o077) !== 0;
    if (loose)
      return {
        check,
        subject,
        status: 'warn',
        message: 'the coordinator accepts this agent token, but the token file is readable by other users',
        fix: `chmod 600 ${config.tokenFile}`,
      };
    return {
      check,
      subject,
      status: 'ok',
      message: `the coordinator accepts this agent token (reports must say agent ${config.name}, role ${config.role})`,
    };
  }
  if (answer.status === 401)
    return {
      check,
      subject,
      status: 'fail',
      message: `the coordinator refuses the token${errorText(answer)}`,
      fix: create,
    };
  if (answer.status === 403)
    return {
      check,
      subject,
      status: 'fail',
      message: `the token is not an agent token${errorText(answer)}`,
      fix: create,
    };
  return {
    check,
    subject,
    status: 'fail',
    message: `the reports route answered HTTP ${answer.status}${errorText(answer)}`,
    fix: 'check the coordinator URL in the agent config (reports go to /api/v1/reports below it)',
  };
}

/** One request, its JSON body read; never throws for what the network does. */
async function call(
  dispatcher: Agent,
  url: string,
  method: 'GET' | 'POST',
  timeoutMs: number,
  token?: string,
): Promise<Answer | { error: string }> {
  const { request } = await loadUndici();
  const started = performance.now();
  try {
    const response = await request(url, {
      method,
      dispatcher,
      ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.body.text();
    const ms = performance.now() - started;
    let body: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed !== null && typeof parsed === 'object') body = parsed as Record<string, unknown>;
    } catch {
      // Not JSON (a proxy's error page): the status still tells.
    }
    return { status: response.statusCode, body, ms };
  } catch (error) {
    return { error: describeError(error, timeoutMs) };
  }
}

function describeError(error: unknown, timeoutMs: number): string {
  const { name, code, cause } = error as { name?: string; code?: string; cause?: { code?: string; message?: string } };
  if (name === 'TimeoutError' || /TIMEOUT/.test(code ?? '')) return `no answer within ${formatMs(timeoutMs)}`;
  return cause?.code ?? code ?? cause?.message ?? (error as Error).message;
}

function errorText(answer: Answer): string {
  return typeof answer.body.message === 'string' ? `: ${answer.body.message}` : '';
}
