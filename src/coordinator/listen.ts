import { isIP } from 'node:net';
import { UsageError } from '../core/usage-error.js';

/** Where the coordinator listens. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Parse `--listen`: HOST:PORT or [IPv6]:PORT; port 0 picks a free one. */
export function parseListen(text: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!host || !(port >= 0 && port <= 65_535) || (match?.[1] !== undefined && isIP(host) !== 6)) {
    throw new UsageError(
      `Expected \`--listen\` to be HOST:PORT or [IPv6]:PORT, got \`${text}\``,
      'e.g. --listen 127.0.0.1:8080, --listen 0.0.0.0:8443, --listen [::]:8443',
    );
  }
  return { host, port };
}

/** Why listening failed, in the words an operator acts on. */
export function whyNotListening(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return 'the address is in use';
    case 'EADDRNOTAVAIL':
      return 'no local interface has that address';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privilege)';
    default:
      return error.message;
  }
}
