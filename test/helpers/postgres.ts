// A real PostgreSQL server for a test file: a fresh cluster in a temp dir owned by an unprivileged user,
// pg_ctl start on a Unix socket in that dir (no TCP port), pg_ctl stop -m immediate at teardown. The cluster is a
// copy of one initdb made once per test run (clusterTemplate): initdb is most of a start's CPU.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The part of tap's Test this helper uses. */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** A running cluster. */
export interface PgCluster {
  /** postgres://… URL of its `postgres` database over the Unix socket. */
  url: string;
  /** A URL of a fresh empty schema in the same database (one per store under test: cheaper than a database). */
  newDatabase(): string;
  /** Stop the server at once (crash-like), and start it again. */
  stop(): void;
  start(): void;
}

/** The user the server runs as: postgres refuses to run as root. */
const PG_USER = 'nobody';

/** Where initdb and pg_ctl are, or null. */
export function pgBinDir(): string | null {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // No pg_config (libpq-dev): look where Debian's postgresql puts the server.
  }
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  for (const version of readdirSync(base).sort().reverse()) {
    const dir = join(base, version, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  return null;
}

/** Why this machine cannot run a test cluster, or null when it can. */
export function whyNoPostgres(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (to run initdb and the server as an unprivileged user)';
  if (pgBinDir() === null) return "needs PostgreSQL's server binaries (Debian package postgresql): no initdb found";
  return null;
}

let databases = 0;

/** initdb's arguments for every test cluster (the data directory aside). */
const INITDB = ['-U', 'reachgate', '--auth=trust', '-E', 'UTF8', '--no-instructions', '--no-sync'];

/** Block this thread for `ms` (startPostgres is synchronous, as its callers use it). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The data directory of a cluster initdb made once for this test run and never started, which each file copies: the
 * run is the tap runner that started this file (its PID, process.ppid), so the files a run starts in parallel share
 * one. The first file to get here makes it (a directory made with mkdir is its lock) and removes the templates of
 * runs that have ended; the others wait for it (at most 2 min). Undefined when it did not appear in time.
 */
function clusterTemplate(initdb: (data: string) => void, uid: number, gid: number): string | undefined {
  const prefix = 'reachgate-pg-template-';
  const base = join('/tmp', `${prefix}${process.ppid}`);
  const data = join(base, 'data');
  const ready = join(base, 'ready');
  try {
    mkdirSync(base, { mode: 0o755 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    for (const deadline = Date.now() + 120_000; !existsSync(ready) && Date.now() < deadline;) pause(100);
    return existsSync(ready) ? data : undefined;
  }
  for (const name of readdirSync('/tmp')) {
    const pid = Number(name.slice(prefix.length));
    if (name.startsWith(prefix) && Number.isInteger(pid) && pid !== process.ppid && !alive(pid))
      rmSync(join('/tmp', name), { recursive: true, force: true });
  }
  chownSync(base, uid, gid);
  try {
    initdb(data);
  } catch (error) {
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
  writeFileSync(ready, '');
  return data;
}

/** Start a cluster for this test file; stopped and removed at teardown. Call only when whyNoPostgres() is null. */
export function startPostgres(t: Teardown, options: { fsync?: boolean } = {}): PgCluster {
  const bin = pgBinDir()!;
  // Under /tmp (mode 1777), not under a 0700 home: the server's user must reach it.
  const dir = mkdtempSync('/tmp/reachgate-pg-');
  chmodSync(dir, 0o755);
  const uid = Number(execFileSync('id', ['-u', PG_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', PG_USER], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const asUser = (command: string, args: string[]): void => {
    const run = spawnSync(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', join(bin, command), ...args],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', HOME: dir },
        timeout: 60_000,
      },
    );
    if (run.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${run.stderr || run.stdout}`);
  };
  const initdb = (into: string): void => asUser('initdb', ['-D', into, ...INITDB]);
  const template = clusterTemplate(initdb, uid, gid);
  if (template === undefined) initdb(data);
  else {
    // cp -a keeps the owner and the modes (0700 data directory) the server insists on.
    const copy = spawnSync('cp', ['-a', template, data], { encoding: 'utf8', timeout: 60_000 });
    if (copy.status !== 0) throw new Error(`cp -a ${template} ${data} failed: ${copy.stderr}`);
  }
  // Fsync off unless asked (benchmarks): pg_ctl stop -m immediate loses no committed data without it, only a machine crash would.
  const serverOptions =
    `-c listen_addresses='' -c unix_socket_directories='${dir}' -c fsync=${options.fsync ? 'on' : 'off'} ` +
    '-c max_connections=60 -c shared_buffers=32MB';
  const start = (): void =>
    asUser('pg_ctl', ['-D', data, '-w', '-t', '30', '-l', join(dir, 'log'), '-o', serverOptions, 'start']);
  const stop = (): void => asUser('pg_ctl', ['-D', data, '-w', '-m', 'immediate', 'stop']);
  start();
  t.teardown(() => {
    try {
      stop();
    } catch {
      // Already stopped by the test.
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const urlOf = (database: string): string =>
    `postgres://reachgate@localhost/${database}?host=${encodeURIComponent(dir)}`;

  const psql = (sql: string): void => {
    const run = spawnSync(
      join(bin, 'psql'),
      ['-h', dir, '-U', 'reachgate', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    if (run.status !== 0) throw new Error(`psql failed: ${run.stderr}`);
  };
  return {
    url: urlOf('postgres'),
    newDatabase() {
      const name = `store_${++databases}`;
      psql(`CREATE SCHEMA ${name}`);
      return `${urlOf('postgres')}&search_path=${name}`;
    },
    stop,
    start,
  };
}
