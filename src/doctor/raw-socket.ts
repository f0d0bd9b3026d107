import { readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { startIcmpListener } from '../net/icmp-listener.js';
import { nativeAddon } from '../net/native-addon.js';
import type { Finding } from './finding.js';

const CHECK = 'raw-socket';
/** CAP_NET_RAW's bit in the capability sets (linux/capability.h). */
const CAP_NET_RAW = 13n;

/** Whether this process may open the raw ICMP socket that tells prohibited from unreachable, and how to grant it if not. */
export function checkRawSocket(): Finding {
  if (process.env.REACHGATE_RAW_SOCKET === 'off') {
    return {
      check: CHECK,
      status: 'warn',
      message:
        'the ICMP listener is off on purpose (REACHGATE_RAW_SOCKET=off): rejections read unreachable, never prohibited, and name no router',
      fix: 'unset REACHGATE_RAW_SOCKET',
    };
  }
  const module = rawSocketModule();
  // The listener's sockets are reachgate's addon's where it is built (src/net/icmp-listener.ts): raw-socket is then
  // not needed for them.
  if (module !== 'loads' && 'why' in nativeAddon()) {
    return {
      check: CHECK,
      status: 'warn',
      message:
        module === 'missing'
          ? 'the optional raw-socket module is not installed (its native build failed or was skipped at install): no ICMP listener, no icmp probe'
          : 'the optional raw-socket module is installed but its native part is not built: no ICMP listener, no icmp probe',
      fix:
        module === 'missing'
          ? `install python3, make and g++, then: npm install --prefix ${PACKAGE_ROOT} --no-save --omit=dev raw-socket@${pinnedVersion()}`
          : `install python3, make and g++, then: npm rebuild --prefix ${PACKAGE_ROOT} raw-socket`,
      evidence: { module },
    };
  }
  const started = startIcmpListener();
  const capable = hasNetRaw();
  if (started.listener) {
    started.listener.close();
    return {
      check: CHECK,
      status: 'ok',
      message: `raw ICMP sockets open here (${whyPermitted(capable)}): probes tell prohibited from unreachable and name the router that rejected them`,
      evidence: { module, cap_net_raw: capable, uid: process.getuid?.() },
    };
  }
  const node = nodeBinary();
  return {
    check: CHECK,
    status: 'warn',
    message: `no raw ICMP socket: ${started.note}`,
    fix:
      capable !== true
        ? 'grant CAP_NET_RAW: under systemd, AmbientCapabilities=CAP_NET_RAW (contrib/systemd/reachgate-agent.service); ' +
          `or setcap cap_net_raw+ep ${node} (then every program run by this node binary may open raw sockets); ` +
          'or run as root'
        : 'the kernel refused the raw socket although this process holds CAP_NET_RAW: check seccomp, SELinux/AppArmor ' +
          "or the unit's RestrictAddressFamilies (raw ICMP is AF_INET/AF_INET6)",
    evidence: { module, cap_net_raw: capable, uid: process.getuid?.(), node },
  };
}

/** Whether raw-socket is installed and its native part loads. */
function rawSocketModule(): 'loads' | 'missing' | 'unbuilt' {
  const require = createRequire(import.meta.url);
  try {
    require('raw-socket');
    return 'loads';
  } catch {
    // The package is there but its native part did not load (never built, or built for another node).
    try {
      require.resolve('raw-socket');
      return 'unbuilt';
    } catch {
      return 'missing';
    }
  }
}

/** Whether CAP_NET_RAW is in this process's effective set; undefined where /proc does not say. */
function hasNetRaw(): boolean | undefined {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex === undefined ? undefined : ((BigInt(`0x${hex}`) >> CAP_NET_RAW) & 1n) === 1n;
  } catch {
    return undefined;
  }
}

function whyPermitted(capable: boolean | undefined): string {
  if (process.getuid?.() === 0) return 'running as root';
  return capable ? 'this process holds CAP_NET_RAW' : 'permitted';
}

/** The node binary itself: setcap works on the file, not on a symbolic link to it. */
function nodeBinary(): string {
  try {
    return realpathSync(process.execPath);
  } catch {
    return process.execPath;
  }
}

/** The raw-socket version reachgate's package.json pins. */
function pinnedVersion(): string {
  const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
    optionalDependencies?: Record<string, string>;
  };
  return manifest.optionalDependencies?.['raw-socket'] ?? 'latest';
}
