import { createRequire } from 'node:module';
import { noncesIn } from '../core/receipt.js';
import { openRawReceiver, type RawReceiverModule, type RawSocket } from '../net/raw-receiver.js';

/** Which ports to watch, per transport. */
export interface WatchedPorts {
  udp: number[];
  tcp: number[];
}

/** One nonce as it arrived: its datagram's or segment's source and the watched port. */
export interface Sighting {
  nonce: string;
  protocol: 'udp' | 'tcp';
  source: string;
  sourcePort: number;
  port: number;
}

interface RawModule extends RawReceiverModule {
  AddressFamily: { IPv4: number; IPv6: number };
  Protocol: { TCP: number; UDP: number };
}

/** Bytes kept from the end of each TCP flow's last segment, so a nonce split across two segments is still found. */
const TAIL = 36;
/** TCP flows whose tail is kept at most (oldest dropped first). */
const FLOWS = 4096;

/** Why passive capture cannot start: raw sockets need CAP_NET_RAW. */
export class CaptureError extends Error {
  override name = 'CaptureError';
}

/**
 * Watch ports passively: a raw socket of protocol UDP or TCP receives a copy of every datagram or
 * segment the host receives, while the real service (rsyslog, snmptrapd) keeps its port. Calls
 * `onSighting` for each nonce found in a payload sent to a watched port. Returns how to stop.
 */
export function startCapture(ports: WatchedPorts, onSighting: (sighting: Sighting) => void): () => void {
  let raw: RawModule;
  try {
    raw = createRequire(import.meta.url)('raw-socket') as RawModule;
  } catch {
    throw new CaptureError(
      'the raw-socket module is not installed here; the responder needs it (npm install raw-socket)',
    );
  }
  const sockets: RawSocket[] = [];
  const stop = (): void => {
    for (const socket of sockets) socket.close();
  };
  const tails = new Map<string, Buffer>();
  const watched = { udp: new Set(ports.udp), tcp: new Set(ports.tcp) };
  try {
    for (const protocol of ['udp', 'tcp'] as const) {
      if (watched[protocol].size === 0) continue;
      const number = protocol === 'udp' ? raw.Protocol.UDP : raw.Protocol.TCP;
      for (const family of [4, 6] as const) {
        const socket = openRawReceiver(raw, family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6, number);
        sockets.push(socket);
        socket.on('message', (buffer, source) => {
          const packet = family === 4 ? stripIpv4(buffer) : { transport: buffer, source };
          if (!packet) return;
          const seen = transportPayload(protocol, packet.transport);
          if (!seen || !watched[protocol].has(seen.port)) return;
          let payload = seen.payload;
          if (protocol === 'tcp') {
            const flow = `${packet.source}|${seen.sourcePort}|${seen.port}`;
            const tail = tails.get(flow);
            if (tail) payload = Buffer.concat([tail, payload]);
            tails.delete(flow);
            if (seen.payload.length > 0) tails.set(flow, Buffer.from(payload.subarray(-TAIL)));
            if (tails.size > FLOWS) tails.delete(tails.keys().next().value as string);
          }
          for (const nonce of noncesIn(payload)) {
            onSighting({ nonce, protocol, source: packet.source, sourcePort: seen.sourcePort, port: seen.port });
          }
        });
      }
    }
  } catch (error) {
    stop();
    const code = (error as NodeJS.ErrnoException).code;
    const denied = code === 'EPERM' || code === 'EACCES' || /not permitted/i.test((error as Error).message);
    throw new CaptureError(
      denied
        ? 'watching ports passively needs raw sockets: run as root, or grant CAP_NET_RAW (setcap cap_net_raw+ep "$(command -v node)")'
        : `the raw socket could not open: ${(error as Error).message}`,
    );
  }
  return stop;
}

/** An IPv4 raw socket reads the IP header too (IPv6 ones do not): the source, and the transport header past it. */
function stripIpv4(buffer: Buffer): { transport: Buffer; source: string } | undefined {
  if (buffer.length < 20 || buffer[0]! >> 4 !== 4) return undefined;
  const headerLength = (buffer[0]! & 0x0f) * 4;
  // A later fragment carries no transport header.
  if ((buffer.readUInt16BE(6) & 0x1fff) !== 0 || buffer.length < headerLength) return undefined;
  return { transport: buffer.subarray(headerLength), source: [...buffer.subarray(12, 16)].join('.') };
}

/** The ports and payload of a UDP datagram or TCP segment. */
function transportPayload(
  protocol: 'udp' | 'tcp',
  transport: Buffer,
): { sourcePort: number; port: number; payload: Buffer } | undefined {
  if (transport.length < (protocol === 'udp' ? 8 : 20)) return undefined;
  const sourcePort = transport.readUInt16BE(0);
  const port = transport.readUInt16BE(2);
  const offset = protocol === 'udp' ? 8 : (transport[12]! >> 4) * 4;
  if (offset > transport.length) return undefined;
  return { sourcePort, port, payload: transport.subarray(offset) };
}
