import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.js';

// reachgate's native addon (native/): the sweep engine (native/sweep.c) and the ICMP listener's raw sockets
// (native/icmp.c). Optional: without a C compiler at install it is not built, and sweeps run on the JavaScript engine,
// the ICMP listener on raw-socket.

/** Where the addon is built (native/binding.gyp), under the package root: the same in dist/, the bundle and the .deb. */
export const ADDON_PATH = join(PACKAGE_ROOT, 'native', 'build', 'Release', 'reachgate_sweep.node');

/** What native/sweep.c and native/icmp.c export. */
export interface NativeAddon {
  sweep(job: object, onBatch: (rows: Float64Array | null, icmp: Uint8Array | null, error: string | null) => void): void;
  rawAvailable(family: 4 | 6): number;
  /** A raw ICMP (6: ICMPv6) socket polled on the event loop, or the errno opening it failed with. */
  icmpOpen(family: 4 | 6, onPacket: (packet: Buffer, source: string) => void): NativeIcmpSocket | number;
  /** 0, or the errno sendto failed with. */
  icmpSend(socket: NativeIcmpSocket, packet: Buffer, address: string): number;
  icmpClose(socket: NativeIcmpSocket): void;
}

/** An open raw ICMP socket of the addon (opaque). */
export type NativeIcmpSocket = { readonly __nativeIcmpSocket: unique symbol };

let loaded: { addon: NativeAddon } | { why: string } | undefined;

/** The addon, or why reachgate runs without it (not built here, or REACHGATE_ENGINE=js). */
export function nativeAddon(): { addon: NativeAddon } | { why: string } {
  if (process.env.REACHGATE_ENGINE === 'js')
    return { why: 'the JavaScript engine was asked for (REACHGATE_ENGINE=js)' };
  if (loaded) return loaded;
  try {
    // process.dlopen, not createRequire: node:module is not loaded for it (a cold start's CPU).
    const module = { exports: {} };
    process.dlopen(module, ADDON_PATH);
    loaded = { addon: module.exports as NativeAddon };
  } catch (error) {
    const first = String((error as Error).message).split('\n')[0];
    loaded = {
      why: `the native sweep engine is not built here (${first}); build it with \`npm run build:native\` (needs a C compiler, make and python3)`,
    };
  }
  return loaded;
}
