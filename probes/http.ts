import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { buildConnector, Client, Dispatcher } from 'undici';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import { answeredWith } from '../src/core/observation.js';
import { loadTls } from '../src/net/tls-loader.js';
import type { Check, Observation, State } from '../src/core/result.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs } from '../src/core/duration.js';
import { flag, optionalRegex, optionalString } from '../src/core/option-values.js';
import { optionalFileText } from '../src/net/option-values.js';
import { connectToTarget } from '../src/net/tcp-connect.js';
import { exchange, showBytes } from '../src/net/reply.js';
import { resolveHost } from '../src/net/resolve.js';
import { formatEndpoint } from '../src/net/target.js';
import type { TargetSpec } from '../src/net/target.js';
import type { HandshakeOutcome } from '../src/net/tls-handshake.js';
import { loadUndici } from '../src/core/http-parser.js';

/** A range of acceptable status codes, both ends included. */
export interface StatusRange {
  from: number;
  to: number;
}

/** An HTTP proxy to send requests through (CONNECT for https). */
export interface HttpProxy {
  /** The proxy URL without credentials, for evidence. */
  url: string;
  host: string;
  port: number;
  /** `Proxy-Authorization` from the proxy URL's user and password. */
  authorization?: string;
}

/** Options of the http probe. */
export interface HttpOptions {
  method: 'GET' | 'HEAD';
  /** Extra request headers, in order. */
  headers: Array<[string, string]>;
  /** Acceptable status codes; without them, any status below 400 is acceptable. */
  expectStatus?: StatusRange[];
  /** The response body must match. */
  expectBody?: RegExp;
  followRedirects: boolean;
  proxy?: HttpProxy;
  /** PEM of the CA that must have issued the server's certificate. */
  ca?: string;
}

/** What one HTTP request got back. */
interface HttpAnswer {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request: the URL, the TLS session it went over, and its answer or why none came. */
interface Hop {
  url: URL;
  tls?: HandshakeOutcome & { ok: true };
  /** A check that failed before an answer could come (TLS handshake). */
  failedCheck?: Check;
  answer?: HttpAnswer;
  /** Connected, but no HTTP answer: why. */
  failure?: string;
  /** The TLS check failed, so the request (with its headers) was not sent. */
  withheld?: true;
  /** The proxy refused the CONNECT tunnel: its answer, and what it means for the path. */
  tunnelRefused?: { answer: HttpAnswer; state: State };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Request headers that carry credentials: never sent on to another origin after a redirect. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);
const MAX_REDIRECTS = 5;
const MAX_BODY_BYTES = 65_536;
/** How long to wait for the explanation that follows a proxy's refusal of a tunnel. */
const REFUSAL_BODY_WAIT_MS = 1000;
const SHOWN_HEADERS = ['server', 'location', 'content-type', 'via'];
const URL_FORM =
  'http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH, e.g. https://tg.test/ or http://198.51.100.10:8080/health';

/** HTTP(S) request, directly or through a proxy: status, headers, body and TLS evidence, and every way the path can fail. */
export const http: ProbeKind<HttpOptions> = {
  name: 'http',
  summary:
    'HTTP(S) request, directly or through a proxy; checks status and body, reports the certificate, says how the path failed',
  protocol: 'tcp',
  defaultPort: 80,
  defaultAttempts: 1,
  cliOptions: {
    proxy: {
      type: 'string',
      describe: 'HTTP proxy to go through, http://[USER:PASS@]HOST:PORT (CONNECT for https URLs)',
      requiresArg: true,
    },
    'expect-status': {
      type: 'string',
      describe: 'Acceptable status codes, e.g. 200, 200,301-302 or 2xx (default: any below 400)',
      requiresArg: true,
    },
    'expect-body': { type: 'string', describe: 'Regular expression the response body must match', requiresArg: true },
    'follow-redirects': {
      type: 'boolean',
      describe: `Follow up to ${MAX_REDIRECTS} redirects (default: report the redirect and its Location)`,
    },
    ca: {
      type: 'string',
      describe:
        'PEM file of the CA the server certificate must chain to (a failure is the failed check, and no request is sent)',
      requiresArg: true,
    },
    header: {
      type: 'string',
      describe:
        'Request header `Name: value`; repeat for more (Authorization, Cookie, Proxy-Authorization are not sent on after a redirect to another origin)',
      requiresArg: true,
    },
    method: { type: 'string', describe: 'GET or HEAD (default GET)', requiresArg: true },
  },
  examples: [
    [
      'reachgate probe http https://tg.test/ --ca site-ca.pem',
      'does the web server answer, and is its certificate trusted?',
    ],
    [
      'reachgate probe http https://example.org/ --proxy http://192.0.2.3:3128',
      'can the proxy reach the site (CONNECT)?',
    ],
    [
      'reachgate probe http http://198.51.100.10/health --expect-status 200 --expect-body ok',
      'is the health page up and healthy?',
    ],
  ],
  prepare: () => Promise.all([loadUndici(), loadTls()]),
  parseOptions(raw) {
    const method = (optionalString(raw, 'method') ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD')
      throw new UsageError(`Expected the \`--method\` option to be GET or HEAD, got \`${String(raw.method)}\``);
    const options: HttpOptions = {
      method,
      headers: parseHeaders(raw.header),
      followRedirects: flag(raw, 'follow-redirects'),
    };
    const expectStatus = optionalString(raw, 'expect-status');
    if (expectStatus !== undefined) options.expectStatus = parseStatusList(expectStatus);
    const expectBody = optionalRegex(raw, 'expect-body');
    if (expectBody) {
      if (method === 'HEAD')
        throw new UsageError(
          '`--expect-body` needs a body, and a HEAD request gets none',
          'Leave out --method HEAD, or --expect-body',
        );
      options.expectBody = expectBody;
    }
    const proxy = optionalString(raw, 'proxy');
    if (proxy !== undefined) options.proxy = parseProxy(proxy);
    const ca = optionalFileText(raw, 'ca');
    if (ca !== undefined) options.ca = ca;
    return options;
  },
  parseTarget(text, options): TargetSpec {
    const url = parseUrl(text);
    // Through a proxy the probe connects to the proxy: the target's name is the proxy's to resolve.
    if (options.proxy) return { host: options.proxy.host, ports: [options.proxy.port], url: url.href };
    return { host: hostOf(url), ports: [portOf(url)], url: url.href };
  },
  observe,
};

export default http;

/** Parse the target URL: http or https, no credentials. */
function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`The http target \`${text}\` is not a URL`, `Expected ${URL_FORM}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`The http target \`${text}\` is not an http or https URL`, `Expected ${URL_FORM}`);
  if (url.username || url.password)
    throw new UsageError(
      `The http target \`${text}\` carries credentials`,
      'Send them as a header instead, e.g. --header "Authorization: Basic ..."',
    );
  return url;
}

/** Parse `--proxy http://[user:pass@]host:port`. */
function parseProxy(text: string): HttpProxy {
  const form = 'e.g. --proxy http://192.0.2.3:3128';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `Expected the \`--proxy\` option to be an HTTP proxy URL like http://proxy:3128, got \`${text}\``,
      form,
    );
  }
  if (url.protocol !== 'http:')
    throw new UsageError(`Expected the \`--proxy\` option to be an http:// proxy URL, got \`${text}\``, form);
  if (url.port === '') throw new UsageError(`The \`--proxy\` URL \`${text}\` names no port`, form);
  if (url.pathname !== '/' || url.search !== '')
    throw new UsageError(`The \`--proxy\` URL \`${text}\` has a path; a proxy is only HOST:PORT`, form);
  const credentials =
    url.username === '' ? undefined : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return {
    url: `http://${url.host}`,
    host: hostOf(url),
    port: Number(url.port),
    ...(credentials === undefined ? {} : { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` }),
  };
}

/** Parse `--expect-status`: codes, ranges and classes, e.g. `200,301-302` or `2xx`. */
export function parseStatusList(text: string): StatusRange[] {
  const wrong = (): UsageError =>
    new UsageError(
      `Expected the \`--expect-status\` option to be status codes, ranges or classes like 200,301-302 or 2xx, got \`${text}\``,
    );
  const code = (digits: string): number => {
    const value = Number(digits);
    if (value < 100 || value > 599) throw wrong();
    return value;
  };
  return text.split(',').map((part) => {
    const item = part.trim();
    const klass = /^([1-5])xx$/i.exec(item);
    if (klass) return { from: Number(klass[1]) * 100, to: Number(klass[1]) * 100 + 99 };
    const range = /^(\d{3})(?:-(\d{3}))?$/.exec(item);
    if (!range) throw wrong();
    const from = code(range[1]!);
    const to = range[2] === undefined ? from : code(range[2]);
    if (from > to) throw wrong();
    return { from, to };
  });
}

/** Parse repeated `--header 'Name: value'`. */
function parseHeaders(raw: unknown): Array<[string, string]> {
  if (raw === undefined || raw === null) return [];
  const values = Array.isArray(raw) ? raw : [raw];
  return values.map((value) => {
    const match = typeof value === 'string' ? /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*)$/.exec(value) : null;
    if (!match)
      throw new UsageError(
        `Expected the \`--header\` option to be \`Name: value\`, got \`${String(value)}\``,
        'e.g. --header "Accept: text/html"',
      );
    return [match[1]!, match[2]!.trim()];
  });
}

function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

async function observe(spec: ResolvedProbeSpec<HttpOptions>, context: ProbeContext): Promise<Observation> {
  const { proxy } = spec.options;
  if (proxy && spec.url === undefined) {
    return {
      state: 'error',
      reason:
        'an http probe through a proxy needs its target as a URL: the probe connects to the proxy and asks it for the URL',
      attempts: 0,
    };
  }
  const url = urlOf(spec);
  const connection = await connectToTarget(spec, context);
  if (connection.kind === 'unanswered') {
    const { observation } = connection;
    if (!proxy) return observation;
    return {
      ...observation,
      reason: `the proxy ${formatEndpoint(spec.target.address, spec.target.port)}: ${observation.reason}`,
    };
  }
  const { socket, rttMs, attempts } = connection;
  const { Client } = await loadUndici();
  const hops = [await ask(Client, socket, url, spec.options, context.signal)];
  let redirectFailure: string | undefined;
  let options = spec.options;
  const dropped = new Set<string>();
  for (let hop = hops[0]!; spec.options.followRedirects && redirectOf(hop) !== undefined;) {
    if (hops.length > MAX_REDIRECTS) {
      redirectFailure = `more than ${MAX_REDIRECTS} redirects`;
      break;
    }
    const next = followRedirect(hop.url, redirectOf(hop)!);
    if (typeof next === 'string') {
      redirectFailure = next;
      break;
    }
    const connected = await connectHop(next, spec, context);
    if ('failure' in connected) {
      redirectFailure = `following the redirect to ${next.href}: ${connected.failure}`;
      break;
    }
    if (next.origin !== url.origin) {
      // Credentials were meant for the first origin only (as browsers and curl do): once off, they stay off.
      for (const [name] of options.headers) if (CREDENTIAL_HEADERS.has(name.toLowerCase())) dropped.add(name);
      options = {
        ...options,
        headers: options.headers.filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())),
      };
    }
    hop = await ask(Client, connected.socket, next, options, context.signal);
    hops.push(hop);
  }
  const observation = observationOf(spec, hops, redirectFailure, rttMs, attempts);
  if (dropped.size > 0 && observation.evidence) observation.evidence.headers_dropped_on_redirect = [...dropped];
  return observation;
}

/** The URL a probe asks for: its own, or for a HOST:PORT target (from a profile) / on it, https on port 443. */
function urlOf(spec: ResolvedProbeSpec<HttpOptions>): URL {
  if (spec.url !== undefined) return new URL(spec.url);
  const host = isIP(spec.target.host) === 6 ? `[${spec.target.host}]` : spec.target.host;
  return new URL(`${spec.target.port === 443 ? 'https' : 'http'}://${host}:${spec.target.port}/`);
}

/** Over a connected socket (to the server or the proxy): tunnel if needed, TLS for https, then the request. */
async function ask(
  undici: typeof Client,
  socket: Socket,
  url: URL,
  options: HttpOptions,
  signal: AbortSignal,
): Promise<Hop> {
  let stream: Socket = socket;
  try {
    if (options.proxy && url.protocol === 'https:') {
      const tunnel = await openTunnel(undici, socket, url, options.proxy, signal);
      if ('refused' in tunnel) return { url, tunnelRefused: tunnel.refused };
      if ('failure' in tunnel) return { url, failure: tunnel.failure };
      stream = tunnel.socket;
    }
    let tls: Hop['tls'];
    if (url.protocol === 'https:') {
      const { handshakeTls } = await loadTls();
      const servername = isIP(hostOf(url)) ? undefined : hostOf(url);
      const handshake = await handshakeTls(
        stream,
        { ...(servername ? { servername } : {}), ...(options.ca ? { ca: options.ca } : {}) },
        signal,
      );
      if (!handshake.ok) return { url, failedCheck: handshake.check };
      // A server that failed verification (--ca, or an expired certificate) gets nothing: not the path, not a header.
      if (!handshake.check.ok) {
        const check = { ok: false, detail: `${handshake.check.detail}; the request was not sent` };
        return { url, tls: { ...handshake, check }, withheld: true };
      }
      tls = handshake;
      stream = handshake.socket;
    }
    // A plain-HTTP request to a proxy names the whole URL (absolute form, RFC 9112 3.2.2).
    const forwarded = options.proxy !== undefined && url.protocol === 'http:';
    const origin = forwarded && options.proxy ? options.proxy.url : url.origin;
    const ownHost = options.headers.some(([name]) => name.toLowerCase() === 'host');
    const headers: Array<[string, string]> = [
      ...(ownHost ? [] : [['host', url.host] as [string, string]]),
      ...options.headers,
    ];
    if (forwarded && options.proxy?.authorization) headers.push(['proxy-authorization', options.proxy.authorization]);
    const result = await request(
      undici,
      stream,
      origin,
      forwarded ? url.href : `${url.pathname}${url.search}`,
      options.method,
      headers,
      signal,
    );
    return { url, ...(tls ? { tls } : {}), ...result };
  } finally {
    stream.destroy();
    socket.destroy();
  }
}

/** Ask the proxy for a CONNECT tunnel to the URL's host and port; undici's client speaks the request and parses the answer. */
async function openTunnel(
  undici: typeof Client,
  socket: Socket,
  url: URL,
  proxy: HttpProxy,
  signal: AbortSignal,
): Promise<{ socket: Socket } | { refused: { answer: HttpAnswer; state: State } } | { failure: string }> {
  const authority = `${url.hostname}:${portOf(url)}`;
  const client = new undici(proxy.url, { connect: handOver(socket) });
  try {
    const headers: Record<string, string> = {
      host: authority,
      ...(proxy.authorization ? { 'proxy-authorization': proxy.authorization } : {}),
    };
    const tunnel = await client.connect({ path: authority, headers, signal });
    const answerSocket = tunnel.socket as Socket;
    if (tunnel.statusCode >= 200 && tunnel.statusCode < 300) return { socket: answerSocket };
    // The proxy's explanation follows its status line: read what comes before it closes or falls silent, briefly.
    const body =
      tunnel.headers?.['content-length'] === '0'
        ? { bytes: Buffer.alloc(0) }
        : await exchange(
            answerSocket,
            undefined,
            /(?!)/,
            AbortSignal.any([signal, AbortSignal.timeout(REFUSAL_BODY_WAIT_MS)]),
          );
    answerSocket.destroy();
    const answer = {
      status: tunnel.statusCode,
      statusText: '',
      headers: pickHeaders(tunnel.headers),
      body: body.bytes.subarray(0, MAX_BODY_BYTES),
    };
    return { refused: { answer, state: proxyState(tunnel.statusCode, true) ?? 'prohibited' } };
  } catch (error) {
    return { failure: `the proxy did not open a tunnel: ${describeHttpError(error, signal)}` };
  } finally {
    void client.destroy().catch(() => {});
  }
}

/** Send one request with undici over an already connected stream and read the answer (the body up to a cap). */
async function request(
  undici: typeof Client,
  stream: Duplex,
  origin: string,
  path: string,
  method: HttpOptions['method'],
  headers: Array<[string, string]>,
  signal: AbortSignal,
): Promise<{ answer: HttpAnswer } | { failure: string }> {
  const client = new undici(origin, { connect: handOver(stream) });
  try {
    const response = await client.request({ path, method, headers: headers.flat(), signal, reset: true });
    const body = await readBody(response.body);
    return {
      answer: {
        status: response.statusCode,
        statusText: response.statusText ?? '',
        headers: pickHeaders(response.headers),
        body,
      },
    };
  } catch (error) {
    return { failure: describeHttpError(error, signal) };
  } finally {
    void client.destroy().catch(() => {});
  }
}

/** A connector that gives undici the stream we connected (and classified) ourselves, once. */
function handOver(stream: Duplex): buildConnector.connector {
  let given = false;
  return (_options, callback) => {
    if (given) return callback(new Error('the connection was closed'), null);
    given = true;
    // Answer asynchronously, as a real connect would: undici's client is not ready for a callback from within the call.
    process.nextTick(callback, null, stream as Socket);
  };
}

async function readBody(body: Dispatcher.ResponseData['body']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= MAX_BODY_BYTES) break;
    }
  } catch {
    // A body cut short by the deadline or the peer: what came is the evidence.
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES);
}

function pickHeaders(headers: Record<string, string | string[] | undefined> | null): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of SHOWN_HEADERS) {
    const value = headers?.[name];
    if (value !== undefined) picked[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return picked;
}

/** Why a connected request got no HTTP answer, in a technician's words. */
function describeHttpError(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'no HTTP answer before the deadline';
  const { code, message } = error as { code?: string; message?: string };
  if (code === 'UND_ERR_SOCKET') return `the connection closed without an HTTP answer (${message})`;
  if (code === 'HPE_INVALID_CONSTANT' || code?.startsWith('HPE_'))
    return `the answer is not HTTP (${code}: ${message})`;
  return `no HTTP answer: ${code ? `${code}: ` : ''}${message ?? String(error)}`;
}

/**
 * What a proxy's own answer says about the path beyond it. A refused CONNECT is always the proxy's
 * answer; for a forwarded request only the codes RFC 9110 reserves for proxies and gateways are.
 */
function proxyState(status: number, tunnel: boolean): State | undefined {
  if (status === 407) return 'prohibited';
  if (status === 504) return 'filtered';
  if (status === 502) return 'unreachable';
  if (!tunnel) return undefined;
  if (status >= 500) return 'unreachable';
  if (status >= 400) return 'prohibited';
  return undefined;
}

function redirectOf(hop: Hop): string | undefined {
  return hop.answer && REDIRECTS.has(hop.answer.status) ? hop.answer.headers.location : undefined;
}

function followRedirect(from: URL, location: string): URL | string {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    return `the redirect's Location \`${location}\` is not a URL`;
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:')
    return `the redirect leads to ${next.protocol} (${next.href}), not to http or https`;
  return next;
}

/** Connect for a redirect: to the proxy again, or to the new URL's host (resolved now, first address). */
async function connectHop(
  url: URL,
  spec: ResolvedProbeSpec<HttpOptions>,
  context: ProbeContext,
): Promise<{ socket: Socket } | { failure: string }> {
  let endpoint = { address: spec.target.address, port: spec.target.port };
  if (!spec.options.proxy) {
    const resolution = await resolveHost(hostOf(url), spec.timeoutMs);
    if ('error' in resolution) return { failure: `name not resolved: ${resolution.error}` };
    // A resolution without an error has at least one address.
    endpoint = { address: resolution.addresses[0]!, port: portOf(url) };
  }
  const connection = await connectToTarget(spec, context, { attempts: 1, endpoint });
  if (connection.kind === 'connected') return { socket: connection.socket };
  const where = formatEndpoint(endpoint.address, endpoint.port);
  const { observation } = connection;
  if (observation.state === 'filtered') return { failure: `no answer from ${where} before the deadline` };
  return { failure: `${where}: ${observation.reason}` };
}

/** Turn the requests of one probe into an observation: the path state, the checks, the evidence. */
function observationOf(
  spec: ResolvedProbeSpec<HttpOptions>,
  hops: Hop[],
  redirectFailure: string | undefined,
  rttMs: number,
  attempts: number,
): Observation {
  const { options } = spec;
  const first = hops[0]!;
  const last = hops[hops.length - 1]!;
  const endpoint = formatEndpoint(spec.target.address, spec.target.port);
  const via = options.proxy ? ` via the proxy ${endpoint}` : '';
  const evidence: Record<string, unknown> = {
    url: first.url.href,
    method: options.method,
    ...(options.proxy ? { proxy: options.proxy.url } : {}),
  };
  const base = { rtt_ms: rttMs, attempts, evidence };
  const refused = first.tunnelRefused;
  if (refused) {
    Object.assign(evidence, answerEvidence(refused.answer), { answered_by: 'proxy' });
    return {
      ...base,
      state: refused.state,
      reason: proxyReason(
        refused.state,
        endpoint,
        `its answer to CONNECT ${first.url.hostname}:${portOf(first.url)} was ${statusLine(refused.answer)}`,
      ),
    };
  }
  const proxied = options.proxy && first.answer ? proxyState(first.answer.status, false) : undefined;
  if (proxied && first.answer) {
    Object.assign(evidence, answerEvidence(first.answer), { answered_by: 'proxy' });
    return {
      ...base,
      state: proxied,
      reason: proxyReason(proxied, endpoint, `it answered ${statusLine(first.answer)}`),
    };
  }
  if (first.tls) evidence.tls = first.tls.evidence;
  if (last.answer) Object.assign(evidence, answerEvidence(last.answer));
  if (hops.length > 1)
    evidence.redirects = hops
      .slice(0, -1)
      .map((hop) => ({ url: hop.url.href, status: hop.answer?.status, location: hop.answer?.headers.location }));
  if (last !== first && last.tls) evidence.final_tls = last.tls.evidence;
  if (last.withheld) evidence.request_sent = false;
  const checks = [
    ...hops.flatMap((hop) => (hop.tls ? [hop.tls.check] : [])),
    ...hops.flatMap((hop) => (hop.failedCheck ? [hop.failedCheck] : [])),
    ...(redirectFailure ? [{ ok: false, detail: redirectFailure }] : []),
    ...(last.failure ? [{ ok: false, detail: last.failure }] : []),
    ...(last.answer ? answerChecks(last.answer, options, hops.length - 1, last.url) : []),
  ];
  const observation = answeredWith(`connected${via} in ${formatMs(rttMs)}`, checks, base);
  return options.proxy ? { ...observation, reason: `${observation.reason} (through the proxy)` } : observation;
}

/** The status check (and the body check when asked), on the last answer. */
function answerChecks(answer: HttpAnswer, options: HttpOptions, redirects: number, url: URL): Check[] {
  const redirect =
    REDIRECTS.has(answer.status) && answer.headers.location !== undefined
      ? `, redirect to ${answer.headers.location}${options.followRedirects ? '' : ' (not followed; --follow-redirects follows it)'}`
      : '';
  const where =
    redirects > 0 ? ` from ${url.href} after ${redirects === 1 ? '1 redirect' : `${redirects} redirects`}` : '';
  const wanted = options.expectStatus
    ? `expected ${options.expectStatus.map(formatRange).join(',')}`
    : 'expected below 400';
  const statusOk = options.expectStatus
    ? options.expectStatus.some((range) => answer.status >= range.from && answer.status <= range.to)
    : answer.status < 400;
  const checks: Check[] = [
    { ok: statusOk, detail: `HTTP ${statusLine(answer)}${where}${redirect}${statusOk ? '' : ` (${wanted})`}` },
  ];
  if (options.expectBody) {
    const text = answer.body.toString('utf8');
    checks.push(
      options.expectBody.test(text)
        ? { ok: true, detail: `body matched /${options.expectBody.source}/` }
        : { ok: false, detail: `body did not match /${options.expectBody.source}/: ${showBytes(answer.body)}` },
    );
  }
  return checks;
}

function answerEvidence(answer: HttpAnswer): Record<string, unknown> {
  return {
    status: answer.status,
    ...(answer.statusText ? { status_text: answer.statusText } : {}),
    headers: answer.headers,
    ...(answer.body.length > 0 ? { body: showBytes(answer.body, 200) } : {}),
  };
}

function proxyReason(state: State, endpoint: string, answered: string): string {
  const about = 'the state is about the path through the proxy';
  switch (state) {
    case 'filtered':
      return `the proxy ${endpoint} timed out reaching the target: ${answered}; ${about}`;
    case 'unreachable':
      return `the proxy ${endpoint} could not reach the target: ${answered}; ${about}`;
    default:
      return `rejected by the proxy ${endpoint}: ${answered}; ${about}`;
  }
}

function statusLine(answer: HttpAnswer): string {
  return answer.statusText ? `${answer.status} ${answer.statusText}` : String(answer.status);
}

function formatRange(range: StatusRange): string {
  return range.from === range.to ? String(range.from) : `${range.from}-${range.to}`;
}
