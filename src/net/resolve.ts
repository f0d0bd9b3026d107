import { isIP } from 'node:net';
import { UsageError } from '../core/usage-error.js';

/** A DNS server chosen with `--resolver`. */
export interface ResolverAddress {
  address: string;
  port: number;
}

/** The addresses of a host, or why there are none. */
export type Resolution = { addresses: string[] } | { error: string };

/** Parse `--resolver IP[:port]`. */
export function parseResolver(text: string): ResolverAddress {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  const address = match?.[1] ?? text;
  const port = match?.[2] === undefined ? 53 : Number(match[2]);
  if (!isIP(address) || port < 1 || port > 65535) {
    throw new UsageError(
      `Expected the \`--resolver\` option to be an IP address with an optional port, got \`${text}\``,
      'e.g. --resolver 192.0.2.53 or --resolver [2001:db8::53]:5353',
    );
  }
  return { address, port };
}

/** Resolve a host to every address it has, each to be probed on its own. */
export async function resolveHost(host: string, timeoutMs: number, resolver?: ResolverAddress): Promise<Resolution> {
  if (isIP(host)) return { addresses: [host] };
  return resolver ? viaResolver(host, timeoutMs, resolver) : viaSystem(host, timeoutMs);
}

// node:dns/promises loads only for a host name: a probe of an address (most sweeps) starts without it.
async function viaSystem(host: string, timeoutMs: number): Promise<Resolution> {
  const { lookup } = await import('node:dns/promises');
  let timer: NodeJS.Timeout | undefined;
  // getaddrinfo cannot be cancelled; we only stop waiting for it.
  const timeout = new Promise<Resolution>((resolve) => {
    timer = setTimeout(
      () => resolve({ error: `${host}: no answer from the system resolver within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  const answer = lookup(host, { all: true, order: 'verbatim' }).then(
    (entries): Resolution => ({ addresses: [...new Set(entries.map((entry) => entry.address))] }),
    (error: NodeJS.ErrnoException): Resolution => ({
      error: `${host}: ${describeDnsError(error.code)} (system resolver)`,
    }),
  );
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function viaResolver(host: string, timeoutMs: number, server: ResolverAddress): Promise<Resolution> {
  const { Resolver } = await import('node:dns/promises');
  const resolver = new Resolver({ timeout: Math.max(100, Math.floor(timeoutMs / 2)), tries: 2 });
  const where = isIP(server.address) === 6 ? `[${server.address}]:${server.port}` : `${server.address}:${server.port}`;
  resolver.setServers([where]);
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  const addresses = [v4, v6].flatMap((answer) => (answer.status === 'fulfilled' ? answer.value : []));
  if (addresses.length > 0) return { addresses };
  const failure = [v4, v6].find(
    (answer): answer is PromiseRejectedResult => answer.status === 'rejected' && answer.reason?.code !== 'ENODATA',
  );
  const code = failure ? (failure.reason as NodeJS.ErrnoException).code : 'ENODATA';
  return { error: `${host}: ${describeDnsError(code)} (resolver ${where})` };
}

/** Name a resolver error code in words a technician knows. */
function describeDnsError(code: string | undefined): string {
  switch (code) {
    case 'ENOTFOUND':
      return 'name does not exist (NXDOMAIN)';
    case 'ENODATA':
      return 'no A or AAAA record';
    case 'ESERVFAIL':
      return 'the DNS server failed (SERVFAIL)';
    case 'EREFUSED':
      return 'the DNS server refused the query (REFUSED)';
    case 'ETIMEOUT':
      return 'no answer from the DNS server (timeout)';
    case 'ECONNREFUSED':
      return 'the DNS server port is closed (connection refused)';
    case 'EAI_AGAIN':
      return 'temporary resolver failure (EAI_AGAIN)';
    default:
      return `resolver error ${code ?? 'unknown'}`;
  }
}
