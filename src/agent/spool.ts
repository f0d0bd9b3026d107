import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
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
const TEMP = /^\..*\.tmp$/;

/** A directory of reports not yet acknowledged by the coordinator: written durably, read oldest first, bounded. */
export class Spool {
  readonly dir: string;
  readonly limit: SpoolLimit;
  readonly #log: AgentLog;
  #sequence = 0;

  constructor(dir: string, limit: SpoolLimit, log: AgentLog) {
    this.dir = dir;
    this.limit = limit;
    this.#log = log;
  }

  /** Create the directory and remove temporary files of writes that a crash interrupted (never renamed, so never spooled). */
  open(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.dir)) {
      if (!TEMP.test(name)) continue;
      unlinkSync(join(this.dir, name));
      this.#log.warn({ file: join(this.dir, name) }, 'removed an unfinished spool write left by an earlier run');
    }
  }

  /** Write a report durably (temp file, fsync, rename, fsync of the directory), then drop the oldest while over the bound. */
  add(report: RunReport): SpoolEntry {
    this.#sequence = (this.#sequence + 1) % 1_000_000;
    const id = report.id.replace(/[^A-Za-z0-9_-]/g, '_');
    const name = `${String(Date.now()).padStart(15, '0')}-${String(this.#sequence).padStart(6, '0')}-${id}.json`;
    const path = join(this.dir, name);
    const temp = join(this.dir, `.${name}.tmp`);
    const body = JSON.stringify(report);
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    this.#syncDir();
    this.#enforceLimit(name);
    return { name, path, size: Buffer.byteLength(body) };
  }

  /** Spooled reports, oldest first. */
  entries(): SpoolEntry[] {
    const names = readdirSync(this.dir)
      .filter((name) => ENTRY.test(name))
      .sort();
    const entries: SpoolEntry[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      try {
        entries.push({ name, path, size: statSync(path).size });
      } catch {
        // Removed between listing and stat: nothing to deliver.
      }
    }
    return entries;
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

  #enforceLimit(newest: string): void {
    const entries = this.entries();
    let count = entries.length;
    let bytes = entries.reduce((sum, entry) => sum + entry.size, 0);
    const over = (): boolean =>
      (this.limit.count !== undefined && count > this.limit.count) ||
      (this.limit.bytes !== undefined && bytes > this.limit.bytes);
    for (const entry of entries) {
      if (!over()) break;
      // The report just written is kept even when it alone is over the bound: it is the newest evidence.
      if (entry.name === newest) continue;
      unlinkSync(entry.path);
      count -= 1;
      bytes -= entry.size;
      this.#log.warn(
        {
          file: entry.path,
          report_id: reportIdOf(entry.name),
          spooled: count,
          spooled_bytes: bytes,
          limit: this.limit,
        },
        'spool full: dropped the oldest undelivered report',
      );
    }
    this.#syncDir();
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
