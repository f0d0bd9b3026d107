// Network namespaces for benchmarks: created here, always torn down (finally + exit handler).
//
// Safety (DESIGN.md "Network safety"): benchmarks send traffic only to loopback or to hosts in
// namespaces created here, addressed from 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24.
import { spawnSync } from 'node:child_process';

const SYNC_TIMEOUT_MS = 10_000;
const ALLOWED = [/^127\./, /^192\.0\.2\./, /^198\.51\.100\./, /^203\.0\.113\./];

const liveNamespaces = new Set();
let counter = 0;

/** Kill whatever still runs in a namespace (by PID) and delete it. Synchronous: usable at exit. */
function purge(ns) {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: SYNC_TIMEOUT_MS });
  for (const pid of (pids.stdout ?? '').split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: SYNC_TIMEOUT_MS });
  liveNamespaces.delete(ns);
}

process.on('exit', () => {
  for (const ns of [...liveNamespaces]) purge(ns);
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    for (const ns of [...liveNamespaces]) purge(ns);
    process.exit(130);
  });
}

/** Refuse any address outside loopback and the documentation ranges. */
export function assertSafeAddress(address) {
  const bare = String(address).replace(/\/\d+$/, '');
  if (!ALLOWED.some((re) => re.test(bare)))
    throw new Error(`bench: refusing non-documentation, non-loopback address ${address}`);
  return address;
}

/** Run a command synchronously; throw with its stderr when it fails. */
export function must(cmd, args, input) {
  const result = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: SYNC_TIMEOUT_MS,
    ...(input === undefined ? {} : { input }),
  });
  if (result.error) throw new Error(`${cmd} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')}: ${(result.stderr || '').trim() || `exit ${result.status}`}`);
  return result.stdout;
}

/** Why namespaces cannot be used here, or null. */
export function netnsUnavailable() {
  if (process.getuid?.() !== 0) return 'not running as root';
  const probe = `rgb${process.pid}p`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8', timeout: SYNC_TIMEOUT_MS });
  spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore', timeout: SYNC_TIMEOUT_MS });
  if (add.status !== 0) return `ip netns add failed: ${(add.stderr || '').trim()}`;
  const nft = spawnSync('nft', ['--version'], { encoding: 'utf8', timeout: SYNC_TIMEOUT_MS });
  if (nft.status !== 0) return 'nft is not available';
  return null;
}

/** A new, empty namespace with lo up; the name is unique to this process. */
export function addNamespace(role) {
  const ns = `rgb${process.pid}n${++counter}${role}`;
  liveNamespaces.add(ns);
  must('ip', ['netns', 'add', ns]);
  must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}

export function deleteNamespace(ns) {
  purge(ns);
}

/** Connect two namespaces with a veth pair, addressing each end (documentation ranges only). */
export function linkNamespaces(nsA, addrA, nsB, addrB) {
  assertSafeAddress(addrA);
  assertSafeAddress(addrB);
  const a = 'veth0';
  const tmp = `rgb${process.pid}v${counter}`;
  must('ip', ['-n', nsA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', tmp, 'netns', nsB]);
  must('ip', ['-n', nsB, 'link', 'set', tmp, 'name', 'veth0']);
  must('ip', ['-n', nsA, 'addr', 'add', addrA, 'dev', 'veth0']);
  must('ip', ['-n', nsB, 'addr', 'add', addrB, 'dev', 'veth0']);
  must('ip', ['-n', nsA, 'link', 'set', 'veth0', 'up']);
  must('ip', ['-n', nsB, 'link', 'set', 'veth0', 'up']);
}

/** Load an nftables ruleset inside a namespace. */
export function nft(ns, ruleset) {
  must('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], ruleset);
}

/** Run `body` with namespaces that are deleted afterwards, whatever happens. */
export async function withNamespaces(roles, body) {
  const created = [];
  try {
    for (const role of roles) created.push(addNamespace(role));
    return await body(...created);
  } finally {
    for (const ns of created) purge(ns);
  }
}
