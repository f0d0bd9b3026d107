// A throwaway PostgreSQL cluster for a benchmark: initdb as `nobody` into a temp dir under /tmp,
// pg_ctl start on a Unix socket in it (no TCP port), fsync on (the durability a deployment has).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function binDir() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  for (const version of readdirSync(base).sort().reverse()) {
    const dir = join(base, version, 'bin');
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  return null;
}

/** Why no cluster can be started here, or null. */
export function whyNoPostgres() {
  if (process.getuid?.() !== 0) return 'needs root (initdb and the server run as nobody)';
  if (binDir() === null) return 'needs the Debian package postgresql (no initdb under /usr/lib/postgresql)';
  return null;
}

/** Start a cluster; returns { url, stop }. */
export function startPostgres() {
  const bin = binDir();
  const dir = mkdtempSync('/tmp/reachgate-bench-pg-');
  chmodSync(dir, 0o755);
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
  const asNobody = (command, args) => {
    const run = spawnSync(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', join(bin, command), ...args],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', HOME: dir },
        timeout: 120_000,
      },
    );
    if (run.status !== 0) throw new Error(`${command} failed: ${run.stderr || run.stdout}`);
  };
  const data = join(dir, 'data');
  asNobody('initdb', ['-D', data, '-U', 'reachgate', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
  // REACHGATE_BENCH_PG_OPTIONS adds server options, e.g. `-c shared_preload_libraries=pg_stat_statements`.
  const extra = process.env.REACHGATE_BENCH_PG_OPTIONS ?? '';
  const options = `-c listen_addresses='' -c unix_socket_directories='${dir}' -c max_connections=100 -c shared_buffers=128MB ${extra}`;
  asNobody('pg_ctl', ['-D', data, '-w', '-t', '60', '-l', join(dir, 'log'), '-o', options, 'start']);
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url: `postgres://reachgate@localhost/postgres?host=${encodeURIComponent(dir)}`,
    /** The server's processes now: the postmaster and its children (backends, WAL writer, checkpointer ...). */
    pids() {
      const pids = [postmaster];
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
            .replace(/^.*\) /, '')
            .split(' ');
          if (Number(stat[1]) === postmaster) pids.push(Number(entry));
        } catch {
          /* gone */
        }
      }
      return pids;
    },
    stop() {
      try {
        asNobody('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
