import { isIP } from 'node:net';
import { getSystemErrorMap } from 'node:util';
import type { IcmpError, IcmpListener, IcmpMessageHandler, IcmpWatch, PathKey } from '../core/icmp.js';
import { parseIcmp4, parseIcmp6 } from './icmp-packet.js';
import { nativeAddon, type NativeAddon } from './native-addon.js';
import { openRawReceiver, type RawReceiverModule } from './raw-receiver.js';

// The listener's interface is core's, so the runner and probes can hold one without importing net.
export type { IcmpListener, IcmpMessageHandler, IcmpWatch, PathKey };

/** The listener, or why there is none. */
export type ListenerStart = { listener: IcmpListener; note?: undefined } | { listener: null; note: string };

interface RawModule extends RawReceiverModule {
  AddressFamily: { IPv4: number; IPv6: number };
  Protocol: { ICMP: number; ICMPv6: number };
}

const CAP_NOTE =
  'telling prohibited apart from unreachable needs the ICMP listener, which needs CAP_NET_RAW (run ' +
  'as root, or grant it: setcap cap_net_raw+ep "$(command -v node)")';

/** One raw ICMP socket of the listener, the addon's or raw-socket's. */
interface IcmpSocket {
  send(message: Buffer, address: string): Promise<void>;
  close(): void;
}

/** Opens the raw ICMP socket of a family, its packets to `onPacket`; throws when it cannot (EPERM without CAP_NET_RAW). */
type OpenSocket = (family: 4 | 6, onPacket: (packet: Buffer, source: string) => void) => IcmpSocket;

/**
 * Open the ICMP error listener; degrade to a note when raw sockets are unavailable or not permitted. Its raw sockets
 * are reachgate's addon's (native/icmp.c) where it is built, raw-socket's otherwise: the same packets either way, the
 * addon a few milliseconds cheaper to load (it is plain C, and sweeps load it anyway).
 */
export function startIcmpListener(): ListenerStart {
  if (process.env.REACHGATE_RAW_SOCKET === 'off') {
    return {
      listener: null,
      note: 'the ICMP listener is off (REACHGATE_RAW_SOCKET=off); telling prohibited apart from unreachable needs it',
    };
  }
  const native = nativeAddon();
  let open: OpenSocket;
  if ('addon' in native) open = nativeOpener(native.addon);
  else {
    const raw = rawSocketModule();
    if (!raw) {
      return {
        listener: null,
        note: 'the optional raw-socket module is not installed here; telling prohibited apart from unreachable needs it (npm install raw-socket)',
      };
    }
    open = rawSocketOpener(raw);
  }
  const listener = new RawIcmpListener();
  try {
    listener.add(
      4,
      open(4, (packet, source) => listener.hear(4, packet, source)),
    );
  } catch (error) {
    return {
      listener: null,
      note: isPermissionError(error) ? CAP_NOTE : `the ICMP listener could not start: ${(error as Error).message}`,
    };
  }
  try {
    listener.add(
      6,
      open(6, (packet, source) => listener.hear(6, packet, source)),
    );
  } catch {
    // A host without IPv6 still gets the IPv4 listener.
  }
  return { listener };
}

/** raw-socket, an optional native module: loaded only when probing without the addon, and lived without. */
function rawSocketModule(): RawModule | undefined {
  try {
    // node:module through getBuiltinModule: a static import would load it (and the loaders it pulls in) at start.
    return process.getBuiltinModule('node:module').createRequire(import.meta.url)('raw-socket') as RawModule;
  } catch {
    return undefined;
  }
}

function rawSocketOpener(raw: RawModule): OpenSocket {
  return (family, onPacket) => {
    const socket = openRawReceiver(
      raw,
      family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
      family === 4 ? raw.Protocol.ICMP : raw.Protocol.ICMPv6,
    );
    socket.on('message', onPacket);
    return {
      send: (message, address) =>
        new Promise((resolve, reject) => {
          socket.send(message, 0, message.length, address, (error) => (error ? reject(error) : resolve()));
        }),
      close: () => socket.close(),
    };
  };
}

function nativeOpener(addon: NativeAddon): OpenSocket {
  return (family, onPacket) => {
    const socket = addon.icmpOpen(family, onPacket);
    if (typeof socket === 'number') throw new Error(errnoText(socket));
    return {
      send: (message, address) => {
        const errno = addon.icmpSend(socket, message, address);
        return errno === 0 ? Promise.resolve() : Promise.reject(new Error(errnoText(errno)));
      },
      close: () => addon.icmpClose(socket),
    };
  };
}

/** An errno as raw-socket words it: the system's message alone ("Operation not permitted"), as icmp-echo.ts reads it. */
function errnoText(errno: number): string {
  return getSystemErrorMap().get(-errno)?.[1] ?? `errno ${errno}`;
}

function isPermissionError(error: unknown): boolean {
  return /not permitted|EPERM|EACCES/i.test(String((error as Error)?.message ?? error));
}

class Watch implements IcmpWatch {
  seen: IcmpError | undefined;
  readonly key: PathKey;
  readonly #listener: RawIcmpListener;
  readonly #waiters = new Set<(error: IcmpError | undefined) => void>();

  constructor(key: PathKey, listener: RawIcmpListener) {
    this.key = { ...key };
    this.#listener = listener;
  }

  #readLocalPort: (() => number | undefined) | undefined;

  setLocalPort(port: number | (() => number | undefined)): void {
    if (typeof port === 'number') this.key.localPort = port;
    else this.#readLocalPort = port;
  }

  matches(error: IcmpError): boolean {
    const quoted = error.quoted;
    if (
      quoted.protocol !== this.key.protocol ||
      !sameAddress(quoted.destination, this.key.remote) ||
      quoted.destinationPort !== this.key.port
    )
      return false;
    if (this.key.localPort === undefined && this.#readLocalPort) {
      const port = this.#readLocalPort();
      if (port) this.key.localPort = port;
    }
    return this.key.localPort === undefined || quoted.sourcePort === this.key.localPort;
  }

  deliver(error: IcmpError): void {
    this.seen ??= error;
    for (const waiter of [...this.#waiters]) waiter(this.seen);
  }

  wait(ms: number): Promise<IcmpError | undefined> {
    if (this.seen) return Promise.resolve(this.seen);
    return new Promise((resolve) => {
      const finish = (error: IcmpError | undefined): void => {
        clearTimeout(timer);
        this.#waiters.delete(finish);
        resolve(error);
      };
      const timer = setTimeout(() => finish(undefined), ms);
      this.#waiters.add(finish);
    });
  }

  close(): void {
    for (const waiter of [...this.#waiters]) waiter(this.seen);
    this.#listener.forget(this);
  }
}

class RawIcmpListener implements IcmpListener {
  readonly #sockets = new Map<4 | 6, IcmpSocket>();
  /** In-flight watches by remote address: an ICMP error names the address it was about. */
  readonly #watches = new Map<string, Set<Watch>>();
  readonly #handlers = new Set<IcmpMessageHandler>();

  add(family: 4 | 6, socket: IcmpSocket): void {
    this.#sockets.set(family, socket);
  }

  hear(family: 4 | 6, buffer: Buffer, source: string): void {
    for (const handler of this.#handlers) handler(family, buffer, source);
    this.deliver(family === 4 ? parseIcmp4(buffer, source) : parseIcmp6(buffer, source));
  }

  send(address: string, message: Buffer): Promise<void> {
    const socket = this.#sockets.get(isIP(address) === 6 ? 6 : 4);
    if (!socket)
      return Promise.reject(
        new Error(`no raw ICMP socket for ${address} here (Address family not supported by protocol)`),
      );
    return socket.send(message, address);
  }

  listen(handler: IcmpMessageHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  watch(key: PathKey): IcmpWatch {
    const watch = new Watch(key, this);
    const remote = canonical(key.remote);
    let set = this.#watches.get(remote);
    if (!set) this.#watches.set(remote, (set = new Set()));
    set.add(watch);
    return watch;
  }

  deliver(error: IcmpError | null): void {
    if (!error) return;
    for (const watch of this.#watches.get(canonical(error.quoted.destination)) ?? []) {
      if (watch.matches(error)) watch.deliver(error);
    }
  }

  forget(watch: Watch): void {
    const remote = canonical(watch.key.remote);
    const set = this.#watches.get(remote);
    set?.delete(watch);
    if (set?.size === 0) this.#watches.delete(remote);
  }

  close(): void {
    for (const socket of this.#sockets.values()) socket.close();
    this.#sockets.clear();
    this.#handlers.clear();
  }
}

function canonical(address: string): string {
  // Node writes IPv4-mapped and compressed IPv6 forms; the packet parser writes compressed ones.
  return isIP(address) === 6 ? address.toLowerCase() : address;
}

function sameAddress(a: string, b: string): boolean {
  return canonical(a) === canonical(b);
}
