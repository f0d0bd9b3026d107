// One set-up for every raw socket that receives: the ICMP listener's (icmp-listener.ts), the SYN scanner's
// (syn-scanner.ts) and the responder's watching sockets (src/responder/capture.ts).

/** raw-socket's socket, as far as reachgate uses it. */
export interface RawSocket {
  /** raw-socket's native handle (private to raw-socket 1.8, which package.json pins): see drainEachWakeUp. */
  wrap: {
    recv(buffer: Buffer, callback: (buffer: Buffer, bytes: number, source: string) => void): void;
    send(buffer: Buffer, offset: number, length: number, address: string, callback: (bytes: number) => void): void;
    setOption(level: number, option: number, value: Buffer, length: number): void;
    removeAllListeners(event: string): void;
    on(event: string, callback: () => void): void;
  };
  buffer: Buffer;
  emit(event: 'message', buffer: Buffer, source: string): void;
  on(event: 'message', callback: (buffer: Buffer, source: string) => void): void;
  on(event: 'error', callback: (error: Error) => void): void;
  setOption(level: number, option: number, value: Buffer, length: number): void;
  send(buffer: Buffer, offset: number, length: number, address: string, callback: (error: Error | null) => void): void;
  close(): void;
}

/** What opening a receiving raw socket needs of the raw-socket module. */
export interface RawReceiverModule {
  createSocket(options: { addressFamily: number; protocol: number; bufferSize?: number }): RawSocket;
  SocketLevel: { SOL_SOCKET: number };
  SocketOption: { SO_RCVBUF: number };
}

/** How a receiving raw socket reads. */
export interface ReceiverOptions {
  /** Kernel receive queue to ask for (default 4 MiB): a burst of answers must not overflow it. */
  queueBytes?: number;
  /** Packets read per wake-up at most (default 256), so a flood cannot starve the rest of the process. */
  drainLimit?: number;
  /**
   * Each packet read, as a view of the socket's read buffer that the next read overwrites. Default: emit a copy as
   * the socket's 'message' event.
   */
  onPacket?: (packet: Buffer, source: string) => void;
}

/** Linux's SO_RCVBUFFORCE (asm-generic/socket.h); raw-socket does not name it. */
const SO_RCVBUFFORCE = 33;

/**
 * Open a raw socket that receives: errors ignored (a probe's failure is data), the kernel queue asked for, and every
 * queued packet read at each wake-up. Throws when the socket cannot open (no CAP_NET_RAW: EPERM).
 */
export function openRawReceiver(
  raw: RawReceiverModule,
  family: number,
  protocol: number,
  options: ReceiverOptions = {},
): RawSocket {
  const socket = raw.createSocket({ addressFamily: family, protocol, bufferSize: 65535 });
  socket.on('error', () => {});
  askQueue(raw, socket, options.queueBytes ?? 4 * 1024 * 1024);
  drainEachWakeUp(
    socket,
    options.drainLimit ?? 256,
    options.onPacket ?? ((packet, source) => socket.emit('message', Buffer.from(packet), source)),
  );
  return socket;
}

/**
 * SO_RCVBUF stops at net.core.rmem_max (about 200 KiB by default, a few hundred ICMP errors); SO_RCVBUFFORCE goes
 * past it where the process may (CAP_NET_ADMIN, as root). Either failing leaves the default queue, which still works.
 */
function askQueue(raw: RawReceiverModule, socket: RawSocket, bytes: number): void {
  const size = Buffer.alloc(4);
  size.writeInt32LE(bytes);
  const level = raw.SocketLevel.SOL_SOCKET;
  try {
    socket.setOption(level, raw.SocketOption.SO_RCVBUF, size, 4);
  } catch {
    /* the default queue */
  }
  try {
    socket.setOption(level, SO_RCVBUFFORCE, size, 4);
  } catch {
    /* without CAP_NET_ADMIN, rmem_max it is */
  }
}

/** Sockets with their drain, so that `readQueued` reads as a wake-up would. */
const drains = new WeakMap<RawSocket, () => void>();

/**
 * raw-socket reads one datagram per wake-up of the event loop. While a sweep keeps the loop busy
 * with thousands of resets, queued ICMP errors then wait one loop pass each, longer than a probe
 * waits for its error. Read every queued datagram at each wake-up instead: the socket is
 * non-blocking, and recv throws once the queue is empty.
 */
function drainEachWakeUp(socket: RawSocket, limit: number, onPacket: (packet: Buffer, source: string) => void): void {
  const { wrap, buffer } = socket;
  const deliver = (data: Buffer, bytes: number, source: string): void => onPacket(data.subarray(0, bytes), source);
  const drain = (): void => {
    for (let read = 0; read < limit; read++) {
      try {
        wrap.recv(buffer, deliver);
      } catch {
        return;
      }
    }
  };
  wrap.removeAllListeners('recvReady');
  wrap.on('recvReady', drain);
  drains.set(socket, drain);
}

/** Read what is queued in a receiver now, as a wake-up would (before a deadline concludes silence). */
export function readQueued(socket: RawSocket): void {
  drains.get(socket)?.();
}
