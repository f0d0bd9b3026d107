import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Test } from 'tap';
import type { ProbeKind, ProbeSpec } from '../../src/core/probe-kind.js';
import type { ProbeResult } from '../../src/core/result.js';
import { runOne } from '../../src/core/runner.js';

/** What a user without CAP_NET_RAW is told; in-process tests never open the raw socket. */
export const NO_ICMP_NOTE = 'telling prohibited apart needs CAP_NET_RAW';

/** A probe of `kind` at 127.0.0.1:`port`, its options parsed from `raw` as from the command line. */
export function loopbackSpec<Options>(
  kind: ProbeKind<Options>,
  port: number,
  raw: Record<string, unknown> = {},
  overrides: Partial<ProbeSpec<Options>> = {},
): ProbeSpec<Options> {
  const options = kind.parseOptions(raw);
  const protocol = kind.protocolFor?.(options) ?? kind.protocol;
  return {
    id: `${kind.name}:127.0.0.1:${port}`,
    kind: kind.name,
    target: { host: '127.0.0.1', address: '127.0.0.1', port, protocol },
    expect: 'reachable',
    options,
    timeoutMs: 1000,
    attempts: kind.defaultAttempts,
    ...overrides,
  };
}

/** Run one probe through the runner in this process, without the ICMP listener. */
export function probeInProcess<Options>(kind: ProbeKind<Options>, spec: ProbeSpec<Options>): Promise<ProbeResult> {
  return runOne(spec as ProbeSpec, kind as ProbeKind, { icmp: null, icmpNote: NO_ICMP_NOTE });
}

/** A TCP listener on 127.0.0.1, port 0, closed when the test ends; `onConnection` speaks for the service. */
export async function tcpListener(
  t: Test,
  onConnection: (socket: Socket) => void,
): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** A TCP port on 127.0.0.1 that was just listened on and closed: nothing listens there now. */
export async function vacantTcpPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
