import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import t from 'tap';
import type { IcmpError } from '../../src/core/icmp.js';
import { echoRequest, parseEchoReply } from '../../src/net/icmp-echo.js';
import { startIcmpListener } from '../../src/net/icmp-listener.js';
import { parseIcmp4 } from '../../src/net/icmp-packet.js';
import { nativeAddon, type NativeAddon } from '../../src/net/native-addon.js';

// The ICMP listener's raw sockets from reachgate's addon (native/icmp.c), against raw-socket's, which the listener
// uses where the addon is not built (REACHGATE_ENGINE=js stands in for that): the same ICMP errors, with the same
// sender, reach a probe's watch. Loopback only: a datagram to a vacant UDP port of 127.0.0.1 or ::1 makes the
// kernel answer with an ICMP port unreachable (3/3; ICMPv6 1/4) from that address.

const WAIT_MS = 2000;

/** A UDP port nothing listens on (bound once by the kernel's choice, then closed). */
async function vacantUdpPort(address: string): Promise<number> {
  const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  socket.bind(0, address);
  await once(socket, 'listening');
  const { port } = socket.address();
  socket.close();
  return port;
}

/** Send one datagram to `address`:`port` from `socket` (a new one, closed right after, when none is given). */
async function knock(address: string, port: number, from?: Socket): Promise<void> {
  const socket = from ?? createSocket(address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) =>
    socket.send(Buffer.from('reachgate'), port, address, (error) => (error ? reject(error) : resolve())),
  );
  if (!from) socket.close();
}

/** The ICMP error about UDP to `port` that a listener's watch of that path receives, with the listener used. */
async function watchedError(address: string, port: number, from: Socket): Promise<IcmpError | undefined> {
  const start = startIcmpListener();
  if (!start.listener) throw new Error(`no ICMP listener: ${start.note}`);
  const watch = start.listener.watch({ protocol: 'udp', remote: address, port });
  try {
    await knock(address, port, from);
    return await watch.wait(WAIT_MS);
  } finally {
    watch.close();
    start.listener.close();
  }
}

if (process.getuid?.() !== 0) {
  t.fail('needs root (raw ICMP sockets need CAP_NET_RAW); CI runs as root');
} else {
  const load = nativeAddon();
  if ('why' in load) {
    t.fail(`the addon is not built: ${load.why}`);
  } else {
    const addon: NativeAddon = load.addon;

    for (const [family, address] of [
      [4, '127.0.0.1'],
      [6, '::1'],
    ] as const) {
      t.test(`over IPv${family} the addon's listener and raw-socket's give a watch the same ICMP error`, async (t) => {
        const port = await vacantUdpPort(address);
        // One sender for both: the same datagram, so the same quoted header.
        const sender = createSocket(family === 4 ? 'udp4' : 'udp6');
        t.teardown(() => sender.close());
        const native = await watchedError(address, port, sender);
        const previous = process.env.REACHGATE_ENGINE;
        process.env.REACHGATE_ENGINE = 'js';
        let raw: IcmpError | undefined;
        try {
          raw = await watchedError(address, port, sender);
        } finally {
          if (previous === undefined) delete process.env.REACHGATE_ENGINE;
          else process.env.REACHGATE_ENGINE = previous;
        }
        const unreachable = family === 4 ? { type: 3, code: 3 } : { type: 1, code: 4 };
        t.match(native, { family, ...unreachable, from: address, quoted: { protocol: 'udp', destinationPort: port } });
        t.same(native, raw, 'the same error, sender and quoted header from either socket');
      });
    }

    t.test("the addon's socket hears every packet as raw-socket does: IPv4 with its IP header", async (t) => {
      const port = await vacantUdpPort('127.0.0.1');
      const heard: Array<{ packet: Buffer; source: string }> = [];
      const socket = addon.icmpOpen(4, (packet, source) => {
        const error = parseIcmp4(packet, source);
        if (error?.quoted.destinationPort === port) heard.push({ packet, source });
      });
      if (typeof socket === 'number') throw new Error(`icmpOpen failed: errno ${socket}`);
      try {
        await knock('127.0.0.1', port);
        for (let waited = 0; heard.length === 0 && waited < WAIT_MS; waited += 10) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      } finally {
        addon.icmpClose(socket);
      }
      t.equal(heard.length, 1, 'one port unreachable for one datagram');
      t.equal(heard[0]?.source, '127.0.0.1');
      t.equal((heard[0]!.packet[0]! & 0xf0) >> 4, 4, 'the packet starts with its IPv4 header');
    });

    t.test(
      "an echo request sent on the addon's ICMPv6 socket is answered, and a closed socket sends no more",
      async (t) => {
        const identifier = 0x5a5a;
        const token = Buffer.from('icmp-native');
        let reply: ReturnType<typeof parseEchoReply>;
        const socket = addon.icmpOpen(6, (packet) => {
          reply ??= parseEchoReply(6, packet, identifier, token);
        });
        if (typeof socket === 'number') throw new Error(`icmpOpen failed: errno ${socket}`);
        t.equal(addon.icmpSend(socket, echoRequest(6, identifier, 1, token), '::1'), 0, 'sent');
        for (let waited = 0; reply === undefined && waited < WAIT_MS; waited += 10) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        t.match(reply, { sequence: 1, ttl: null });
        t.equal(addon.icmpSend(socket, echoRequest(6, identifier, 2, token), 'not an address'), 22, 'EINVAL');
        addon.icmpClose(socket);
        addon.icmpClose(socket);
        t.equal(addon.icmpSend(socket, echoRequest(6, identifier, 3, token), '::1'), 9, 'EBADF once closed');
      },
    );
  }
}
