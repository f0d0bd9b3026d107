import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RunReport } from '../core/result.js';
import type { SpoolLimit } from './config.js';

/** The log lines the spool and delivery write. */
export type AgentLog = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/** A report waiting in the spool. */
export interface SpoolEntry {
  name: string;
  path: string;
  size: number;
}

/** Why a spool file was set aside: it is not a whole report, or the coordinator refuses it for good. */
export type AsideReason = 'corrupt' | 'rejected';

/** `<ms since epoch>-<sequence>-<report id>.json`: names sort oldest first. */
const ENTRY = /^\d{15}-\d{6}-[A-Za-z0-9_-]+\.json$/;
/** A set-aside entry: kept for a human, counted toward the bound, rotated oldest first. */
const ASIDE = /^\d{15}-\d{6}-[A-Za-z0-9_-]+\.json\.(corrupt|rejected)$/;
const TEMP = /^\..*\.tmp$/;
/** The lock file: it holds the PID of the agent that uses the spool. */
export const LOCK_FILE = '.lock';

/** A spool write that did not complete: nothing was spooled, and no partial file is left. */
export class SpoolWriteError extends Error {
  override name = 'SpoolWriteError';
  readonly code: string | undefined;

  constructor(path: string, written: number, total: number, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code;
    super(
      `cannot write ${path}: ${code ?? (cause as Error).message} after ${written} of ${total} bytes; ` +
        'the report is not spooled (disk full, or a file-size limit?)',
    );
    this.code = code;
  }
}

/** Another live process holds the spool's lock. */
export class SpoolLockedError extends Error {
  override name = 'SpoolLockedError';
  readonly pid: number;

  constructor(dir: string, pid: number) {
    super(
      `another agent (PID ${pid}) is using the spool directory ${dir}; two agents on one spool would send and delete each other's reports`,
    );
    this.pid = pid;
  }
}

/** A directory of reports not yet acknowledged by the coordinator: written durably, read oldest first, bounded. */
export class Spool {
  readonly dir: string;
  readonly limit: SpoolLimit;
  readonly #log: AgentLog;
  #sequence = 0;
  #locked = false;

  constructor(dir: string, limit: SpoolLimit, log: AgentLog) {
    this.dir = dir;
    this.limit = limit;
    this.#log = log;
  }

  /**
   * Create the directory, take its lock (a SpoolLockedError when a live agent holds it), and remove temporary files of
   * writes that a crash interrupted (never renamed, so never spooled).
   */
  open(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.#lock();
    for (const name of readdirSync(this.dir)) {
      if (!TEMP.test(name)) continue;
      unlinkSync(join(this.dir, name));
      this.#log.warn({ file: join(this.dir, name) }, 'removed an unfinished spool write left by an earlier run');
    }
  }

  /** Release the lock (when this spool holds it). */
  close(): void {
    if (!this.#locked) return;
    this.#locked = false;
    try {
      unlinkSync(join(this.dir, LOCK_FILE));
    } catch {
      // Already gone (the directory was removed): nothing to release.
    }
  }

  /**
   * Write a report whole or not at all (temp file written to its last byte, fsync, rename, fsync of the directory),
   * then rotate the oldest files while over the bound. Any failure removes the temp file and throws a SpoolWriteError.
   */
  add(report: RunReport): SpoolEntry {
    this.#sequence = (this.#sequence + 1) % 1_000_000;
    const id = report.id.replace(/[^A-Za-z0-9_-]/g, '_');
    const name = `${String(Date.now()).padStart(15, '0')}-${String(this.#sequence).padStart(6, '0')}-${id}.json`;
    const path = join(this.dir, name);
    const temp = join(this.dir, `.${name}.tmp`);
    const body = Buffer.from(JSON.stringify(report));
    let written = 0;
    let renamed = false;
    try {
      const fd = openSync(temp, 'wx', 0o600);
      try {
        while (written < body.length) {
          const count = writeSync(fd, body, written, body.length - written);
          // A write that makes no progress would loop for ever: treat it as the disk being full.
          if (count <= 0) throw Object.assign(new Error('no bytes written'), { code: 'ENOSPC' });
          written += count;
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
      renamed = true;
      this.#syncDir();
    } catch (error) {
      // Not durable is not spooled: remove what was made, so the log and the spool agree.
      try {
        unlinkSync(renamed ? path : temp);
      } catch {
        // Never created: nothing half-written is left.
      }
      throw new SpoolWriteError(temp, written, body.length, error);
    }
    this.#enforceLimit(name);
    return { name, path, size: body.length };
  }

  /** Spooled reports, oldest first. */
  entries(): SpoolEntry[] {
    return this.#list(ENTRY);
  }

  /** The report in an entry as JSON text; a file that is not a whole report is set aside as corrupt and null returned. */
  read(entry: SpoolEntry): { report: RunReport; body: string } | null {
    const body = readFileSync(entry.path, 'utf8');
    const problem = reportProblem(body);
    if (problem === null) return { report: JSON.parse(body) as RunReport, body };
    this.setAside(entry, 'corrupt', problem);
    return null;
  }

  /** Delete an entry the coordinator acknowledged. */
  remove(entry: SpoolEntry): void {
    unlinkSync(entry.path);
    this.#syncDir();
  }

  /** Move an entry out of the delivery queue, keeping it for a human to look at. */
  setAside(entry: SpoolEntry, reason: AsideReason, why: string): string {
    const aside = `${entry.path}.${reason}`;
    renameSync(entry.path, aside);
    this.#syncDir();
    const message =
      reason === 'corrupt'
        ? 'a spool file is not a whole report: moved aside, it will not be sent'
        : 'the coordinator refuses this report for good: moved aside, it will not be sent again';
    this.#log.error({ file: entry.path, moved_to: aside, why }, message);
    return aside;
  }

  /** Set-aside files (`.corrupt`, `.rejected`), oldest first. */
  setAsideEntries(): SpoolEntry[] {
    return this.#list(ASIDE);
  }

  /** Queued and set-aside files together count toward the bound; the oldest of either goes first. */
  #enforceLimit(newest: string): void {
    const files = [...this.entries(), ...this.setAsideEntries()].sort((a, b) => (a.name < b.name ? -1 : 1));
    let count = files.length;
    let bytes = files.reduce((sum, entry) => sum + entry.size, 0);
    const over = (): boolean =>
      (this.limit.count !== undefined && count > this.limit.count) ||
      (this.limit.bytes !== undefined && bytes > this.limit.bytes);
    for (const entry of files) {
      if (!over()) break;
      // The report just written is kept even when it alone is over the bound: it is the newest evidence.
      if (entry.name === newest) continue;
      try {
        unlinkSync(entry.path);
      } catch {
        continue;
      }
      count -= 1;
      bytes -= entry.size;
      const aside = ASIDE.exec(entry.name)?.[1];
      this.#log.warn(
        {
          file: entry.path,
          report_id: reportIdOf(entry.name.replace(/\.(corrupt|rejected)$/, '')),
          spooled: count,
          spooled_bytes: bytes,
          limit: this.limit,
        },
        aside
          ? `spool full: removed the oldest set-aside (${aside}) report`
          : 'spool full: dropped the oldest undelivered report',
      );
    }
    this.#syncDir();
  }

  #list(pattern: RegExp): SpoolEntry[] {
    const names = readdirSync(this.dir)
      .filter((name) => pattern.test(name))
      .sort();
    const entries: SpoolEntry[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      try {
        entries.push({ name, path, size: statSync(path).size });
      } catch {
        // Removed between listing and stat: nothing to count.
      }
    }
    return entries;
  }

  /**
   * Take the spool's lock: a file holding our PID, made complete under a private name and linked into place (a link
   * fails if the lock exists, so taking it is atomic and the lock file is never seen empty). A lock whose PID is dead
   * (an agent killed with SIGKILL, a crash) is stale: it is removed, with a warning, and taken.
   */
  #lock(): void {
    if (this.#locked) return;
    const lock = join(this.dir, LOCK_FILE);
    const mine = join(this.dir, `${LOCK_FILE}-${process.pid}`);
    writeFileSync(mine, `${process.pid}\n`, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          linkSync(mine, lock);
          this.#locked = true;
          return;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const holder = lockHolder(lock);
        if (holder !== null && holder !== process.pid && isAlive(holder)) throw new SpoolLockedError(this.dir, holder);
        // Stale: move it away under a private name (only one of several starting agents wins the rename), then retry.
        const stale = join(this.dir, `${LOCK_FILE}-stale-${process.pid}`);
        try {
          renameSync(lock, stale);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          continue;
        }
        const moved = lockHolder(stale);
        if (moved !== holder && moved !== null && moved !== process.pid && isAlive(moved)) {
          // Another agent took the lock between our look and the rename: put its lock back and give way.
          try {
            linkSync(stale, lock);
          } finally {
            unlinkSync(stale);
          }
          throw new SpoolLockedError(this.dir, moved);
        }
        unlinkSync(stale);
        this.#log.warn({ file: lock, pid: holder }, 'removed a stale spool lock: the agent that held it is gone');
      }
      throw new SpoolLockedError(this.dir, lockHolder(lock) ?? 0);
    } finally {
      unlinkSync(mine);
    }
  }

  #syncDir(): void {
    // A rename or unlink is durable only once the directory itself is synced.
    const fd = openSync(this.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** The PID a lock file names, or null when it names none (not written by an agent). */
function lockHolder(lock: string): number | null {
  try {
    const pid = Number(readFileSync(lock, 'utf8').slice(0, 32).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whether a process with this PID exists (EPERM: it exists, as another user's). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The report id a spool file name carries. */
export function reportIdOf(name: string): string {
  return name.replace(/^\d{15}-\d{6}-/, '').replace(/\.json$/, '');
}

/** Why a spool file's text is not a whole report, or null when it is one. */
export function reportProblem(body: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    return `not valid JSON (${(error as Error).message}); ${Buffer.byteLength(body)} bytes, truncated?`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const report = value as Partial<RunReport>;
  if (typeof report.id !== 'string' || typeof report.agent !== 'string' || !Array.isArray(report.results))
    return 'not a RunReport (id, agent or results missing)';
  return null;
}
