import { isIP } from 'node:net';
import { UsageError } from '../core/usage-error.js';
import type { TargetSpec } from '../core/target-spec.js';

export type { TargetSpec };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const FORM = 'HOST[:PORTS], e.g. tightgate:5900, 198.51.100.10:22,5900,8000-8100 or [2001:db8::10]:22';

/** Parse `HOST[:PORTS]`; IPv6 addresses with ports go in brackets. */
export function parseTarget(text: string): TargetSpec {
  const input = String(text ?? '').trim();
  if (input === '') throw new UsageError('The target is empty', `Expected ${FORM}`);
  let host: string;
  let ports: string | undefined;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0)
      throw new UsageError(`The target \`${input}\` opens a bracket but does not close it`, `Expected ${FORM}`);
    host = input.slice(1, close);
    const rest = input.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':'))
      throw new UsageError(`Unexpected \`${rest}\` after the address in \`${input}\``, `Expected ${FORM}`);
    ports = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) throw new UsageError(`\`${host}\` in brackets is not an IPv6 address`, `Expected ${FORM}`);
  } else if (input.indexOf(':') !== input.lastIndexOf(':') && isIP(input) === 6) {
    // Two colons or more before asking isIP: Node's IPv6 pattern takes ~20 ms to compile on its first use, a
    // sixth of a probe's cold start, and `HOST:PORT` with one colon cannot be a bare IPv6 address.
    host = input;
  } else {
    const colon = input.lastIndexOf(':');
    if (colon >= 0 && input.indexOf(':') !== colon) {
      throw new UsageError(
        `\`${input}\` is not an IPv6 address; put an IPv6 address in brackets to add ports`,
        `Expected ${FORM}`,
      );
    }
    host = colon < 0 ? input : input.slice(0, colon);
    ports = colon < 0 ? undefined : input.slice(colon + 1);
  }
  // The host-name pattern first: an IPv4 address matches it, so the IPv6 pattern is compiled only when needed.
  if (!HOSTNAME.test(host) && !isIP(host)) {
    throw new UsageError(`\`${host}\` is neither an IP address nor a host name`, `Expected ${FORM}`);
  }
  return { host, ports: ports === undefined ? [] : parsePorts(ports, input) };
}

/** Parse a port list such as `22,5900,8000-8100` into distinct ports, in the order given. */
export function parsePorts(text: string, where = text): number[] {
  if (text === '') throw new UsageError(`No port after the colon in \`${where}\``, `Expected ${FORM}`);
  const ports = new Set<number>();
  for (const part of text.split(',')) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (range) {
      const first = portNumber(range[1]!, where);
      const last = portNumber(range[2]!, where);
      if (first > last)
        throw new UsageError(
          `The port range \`${part}\` in \`${where}\` runs backwards`,
          'Write the lower port first, e.g. 8000-8100',
        );
      for (let port = first; port <= last; port++) ports.add(port);
    } else {
      ports.add(portNumber(part, where));
    }
  }
  return [...ports];
}

function portNumber(text: string, where: string): number {
  if (!/^\d+$/.test(text)) {
    throw new UsageError(
      `\`${text}\` in \`${where}\` is not a port number`,
      'Ports are numbers from 1 to 65535, lists with commas, ranges with a dash: 22,5900,8000-8100',
    );
  }
  const port = Number(text);
  if (port < 1 || port > 65535) {
    throw new UsageError(`Port ${text} in \`${where}\` is out of range`, 'Ports are numbers from 1 to 65535');
  }
  return port;
}

/** Write an address and port the way a user would type it back. */
export function formatEndpoint(address: string, port: number | null): string {
  const host = isIP(address) === 6 ? `[${address}]` : address;
  return port === null ? address : `${host}:${port}`;
}
