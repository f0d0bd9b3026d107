import { spawn as spawnProcess, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { finished, type Finished } from './finished.js';

/** Addresses of the standard lab topology (client — router — server), all in documentation ranges. */
export const LAB = {
  client: { v4: '192.0.2.2', v6: '2001:db8:1::2' },
  router: {
    clientV4: '192.0.2.1',
    serverV4: '198.51.100.1',
    clientV6: '2001:db8:1::1',
    serverV6: '2001:db8:2::1',
  },
  server: { v4: '198.51.100.10', v6: '2001:db8:2::10' },
  /** Inside 203.0.113.0/24, to which the router has no route. */
  unroutedV4: '203.0.113.7',
} as const;

/** Namespace names of one lab. */
export interface LabHosts {
  client: string;
  router: string;
  server: string;
}

interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

const EXEC_TIMEOUT_MS = 20_000;
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 2_000;
const SYNC_TIMEOUT_MS = 5_000;
// A plain script (not compiled): it runs inside namespaces as its own process.
const LISTENER = join(PACKAGE_ROOT, 'src', 'lab', 'listener.mjs');

// Every lab's namespaces and processes in this process, for the exit safety net below.
const liveNamespaces = new Set<string>();
const liveChildren = new Set<ChildProcess>();
let labCount = 0;
let availability: string | null | undefined;

function purgeAll(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  for (const ns of liveNamespaces) purgeNamespace(ns);
}
process.on('exit', purgeAll);
// A signal ends the process without 'exit': clean up, then let the signal take its course.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    purgeAll();
    process.kill(process.pid, signal);
  });
}

/** What a lab's life is tied to: a tap test registers its destroy as a teardown. */
export interface LabOwner {
  teardown(fn: () => unknown): void;
}

/** Why lab tests cannot run here, or null when they can (root + `ip netns` works + nft exists). */
export function labUnavailable(): string | null {
  if (availability === undefined) availability = probeLab();
  return availability;
}

function probeLab(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root';
  const nft = commandFailure('nft', ['--version']);
  if (nft !== null) return `nft does not run: ${nft}`;
  const probe = `rg${process.pid}probe`;
  const add = commandFailure('ip', ['netns', 'add', probe]);
  commandFailure('ip', ['netns', 'del', probe]);
  return add === null ? null : `ip netns add failed: ${add}`;
}

/** Runs a command synchronously (bounded); returns why it failed, or null. */
function commandFailure(cmd: string, args: string[]): string | null {
  const result = spawnSync(cmd, args, { encoding: 'utf8', timeout: SYNC_TIMEOUT_MS });
  if (result.error) return result.error.message;
  return result.status === 0 ? null : result.stderr.trim() || `exit status ${result.status}`;
}

/** Kills whatever still runs in `ns` and deletes it; synchronous so the exit handler can use it. */
function purgeNamespace(ns: string): void {
  // A namespace outlives `ip netns del` while a process remains in it, e.g. a daemon's child.
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: SYNC_TIMEOUT_MS });
  for (const pid of (pids.stdout ?? '').split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: SYNC_TIMEOUT_MS });
  liveNamespaces.delete(ns);
}

/** SIGTERM, then SIGKILL after the grace period; resolves when the process exited (or gave up). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit').then(
    () => true,
    () => true,
  );
  child.kill('SIGTERM');
  if (await within(exited, STOP_GRACE_MS)) return;
  child.kill('SIGKILL');
  await within(exited, STOP_GRACE_MS);
}

/** Resolves with the promise's value, or false when it takes longer than `ms`. */
async function within(promise: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `child` printed `text` on `stream`; rejects if it exits first or takes too long. */
export function waitForOutput(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  text: string,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const output = { stdout: '', stderr: '' };
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      child.off('close', onExit);
      if (error === undefined) return resolve();
      child.kill('SIGKILL');
      reject(error);
    };
    const failure = (why: string): Error => new Error(`${what} ${why}: ${output.stderr.trim()}`);
    const onExit = (): void => finish(failure('exited before it was ready'));
    const timer = setTimeout(() => finish(failure(`not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    for (const name of ['stdout', 'stderr'] as const) {
      child[name]?.setEncoding('utf8').on('data', (chunk: string) => {
        output[name] += chunk;
        if (name === stream && output[name].includes(text)) finish();
      });
    }
    child.once('close', onExit);
  });
}

/**
 * Test hosts in network namespaces: client — router — server, with the addresses in {@link LAB}.
 * Everything it starts is torn down by {@link Lab.destroy}, which {@link Lab.create} registers
 * as the test's teardown.
 */
export class Lab {
  /** Namespace names of this lab's hosts. */
  readonly ns: LabHosts;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  /** Temp dirs removed at destroy (after the processes are gone). */
  protected readonly tempDirs: string[] = [];
  private destroying: Promise<void> | undefined;

  /** Unique to this lab in this process: the prefix of its namespace names. */
  protected readonly id: string;

  protected constructor() {
    const id = `rg${process.pid}x${++labCount}`;
    this.id = id;
    this.ns = { client: `${id}c`, router: `${id}r`, server: `${id}s` };
  }

  /** Build the standard topology; `owner` (a tap test) gets lab.destroy() as its teardown. */
  static async create(owner?: LabOwner): Promise<Lab> {
    return Lab.built(new Lab(), owner);
  }

  /** Build `lab`, tied to `owner`'s teardown; a lab that fails to build is torn down before the error goes on. */
  protected static async built<L extends Lab>(lab: L, owner: LabOwner | undefined): Promise<L> {
    owner?.teardown(() => lab.destroy());
    try {
      await lab.build();
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return lab;
  }

  /**
   * Run a command inside a namespace, resolve with {code, stdout, stderr}; bounded by a timeout
   * (default 20 s), kills it on timeout (code is then null). `env` is added to this process's
   * environment; `input` is written to its stdin.
   */
  exec(ns: string, cmd: string, args: string[], opts: ExecOptions = {}): Promise<Finished> {
    return this.run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /** Load an nftables ruleset (text for `nft -f -`) inside a namespace; throws with nft's message on error. */
  async nft(ns: string, ruleset: string): Promise<void> {
    await this.must('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: ruleset });
  }

  /**
   * Start a long-running process inside a namespace; tracked and killed (SIGTERM, then SIGKILL
   * after 2 s) at destroy. Resolves once spawned; returns the ChildProcess, whose stdout and
   * stderr are pipes the caller should read. `env` is added to this process's environment.
   */
  async spawn(ns: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<ChildProcess> {
    this.assertAlive();
    const child = this.track(
      spawnProcess('ip', ['netns', 'exec', ns, cmd, ...args], {
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return child;
  }

  /** Start test/lab/listener.mjs in `ns`; resolves when it printed "ready". */
  async listen(
    ns: string,
    opts: { address: string; ports: number[]; banner?: string; tls?: { cert: string; key: string }; echo?: boolean },
  ): Promise<void> {
    const args = [LISTENER, '--address', opts.address, ...opts.ports.flatMap((port) => ['--port', String(port)])];
    if (opts.banner !== undefined) args.push('--banner', opts.banner);
    if (opts.tls) args.push('--tls-cert', opts.tls.cert, '--tls-key', opts.tls.key);
    if (opts.echo) args.push('--echo');
    const child = await this.spawn(ns, process.execPath, args);
    await waitForOutput(child, 'stdout', 'ready', `listener on ${opts.address}`);
  }

  /**
   * Start dnsmasq in `ns` on `address`:53 serving only the given records (A/AAAA) and answering
   * NXDOMAIN for other names under `.test`; no upstream, no hosts file, no config file.
   */
  async dns(ns: string, address: string, records: Record<string, string[]>): Promise<void> {
    const hostRecords = Object.entries(records).flatMap(([name, addresses]) =>
      addresses.map((a) => `--host-record=${name},${a}`),
    );
    const child = await this.spawn(ns, 'dnsmasq', [
      // --no-daemon: stays in the foreground (so its PID is ours), writes no pid file, keeps root.
      '--no-daemon',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--log-facility=-',
      `--listen-address=${address}`,
      '--bind-interfaces',
      '--port=53',
      '--local=/test/',
      ...hostRecords,
    ]);
    // dnsmasq logs "started" only after its sockets are bound.
    await waitForOutput(child, 'stderr', 'started, version', `dnsmasq on ${address}`);
  }

  /**
   * Make a self-signed test certificate (openssl, EC P-256) into a temp dir removed at destroy:
   * returns file paths and PEM text. Each SAN that is an IP address becomes an IP SAN, others DNS.
   */
  async certificate(opts: {
    cn: string;
    sans: string[];
    days?: number;
  }): Promise<{ certFile: string; keyFile: string; cert: string; key: string }> {
    this.assertAlive();
    const dir = await mkdtemp(join(tmpdir(), 'reachgate-lab-'));
    this.tempDirs.push(dir);
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    const sans = opts.sans.map((san) => (isIP(san) ? `IP:${san}` : `DNS:${san}`));
    await this.must('openssl', [
      'req',
      '-x509',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      String(opts.days ?? 30),
      '-subj',
      `/CN=${opts.cn}`,
      ...(sans.length > 0 ? ['-addext', `subjectAltName=${sans.join(',')}`] : []),
    ]);
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return { certFile, keyFile, cert, key };
  }

  /**
   * Tear everything down: kill tracked processes by PID, `ip netns del` each namespace, remove
   * temp dirs. Idempotent; never throws.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    await Promise.all([...this.children].map(stop));
    for (const ns of this.namespaces) purgeNamespace(ns);
    await Promise.all(this.tempDirs.map((dir) => rm(dir, { recursive: true, force: true }).catch(() => {})));
  }

  protected async build(): Promise<void> {
    const { client, router, server } = this.ns;
    // One step at a time: a failed step must leave nothing in flight for destroy to miss.
    for (const ns of [client, router, server]) await this.addNamespace(ns);
    await this.sysctl(router, 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
    await this.ip(
      router,
      `link add to-client type veth peer name eth0 netns ${client}`,
      `link add to-server type veth peer name eth0 netns ${server}`,
      `addr add ${LAB.router.clientV4}/24 dev to-client`,
      `addr add ${LAB.router.clientV6}/64 dev to-client`,
      `addr add ${LAB.router.serverV4}/24 dev to-server`,
      `addr add ${LAB.router.serverV6}/64 dev to-server`,
      'link set to-client up',
      'link set to-server up',
    );
    await this.host(client, LAB.client, LAB.router.clientV4, LAB.router.clientV6);
    await this.host(server, LAB.server, LAB.router.serverV4, LAB.router.serverV6);
  }

  protected async addNamespace(ns: string): Promise<void> {
    // Recorded before it exists, so a half-built lab still deletes it.
    this.namespaces.push(ns);
    liveNamespaces.add(ns);
    await this.must('ip', ['netns', 'add', ns]);
    // Interfaces take "default" when created; without DAD their IPv6 addresses work at once.
    await this.sysctl(ns, 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
    await this.ip(ns, 'link set lo up');
  }

  /** Configures the end host's eth0 with its addresses and default routes via the router. */
  private host(ns: string, address: { v4: string; v6: string }, gatewayV4: string, gatewayV6: string): Promise<void> {
    return this.ip(
      ns,
      `addr add ${address.v4}/24 dev eth0`,
      `addr add ${address.v6}/64 dev eth0`,
      'link set eth0 up',
      `route add default via ${gatewayV4}`,
      `route add default via ${gatewayV6}`,
    );
  }

  protected ip(ns: string, ...commands: string[]): Promise<void> {
    return this.must('ip', ['-n', ns, '-batch', '-'], { input: commands.join('\n') + '\n' });
  }

  protected sysctl(ns: string, ...settings: string[]): Promise<void> {
    return this.must('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings]);
  }

  /** Runs a command and throws with its stderr unless it exits 0. */
  protected async must(cmd: string, args: string[], opts: ExecOptions = {}): Promise<void> {
    const { code, stderr } = await this.run(cmd, args, opts);
    if (code !== 0) throw new Error(`${[cmd, ...args].join(' ')} failed (${code}): ${stderr.trim()}`);
  }

  private async run(cmd: string, args: string[], opts: ExecOptions): Promise<Finished> {
    const { timeoutMs = EXEC_TIMEOUT_MS, env, input = '' } = opts;
    this.assertAlive();
    const child = this.track(spawnProcess(cmd, args, { env: { ...process.env, ...env } }));
    return await finished(child, { timeoutMs, input });
  }

  private track<T extends ChildProcess>(child: T): T {
    this.children.add(child);
    liveChildren.add(child);
    child.once('exit', () => {
      this.children.delete(child);
      liveChildren.delete(child);
    });
    return child;
  }

  private assertAlive(): void {
    if (this.destroying) throw new Error('this lab is destroyed');
  }
}
