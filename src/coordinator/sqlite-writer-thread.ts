// The SQLite store's writer thread (started by sqlite-writer.ts): its own connection to the file runs the ingest
// transactions (sqlite-ingest.ts) with group commit, the reports that arrive while one commits going into the
// next, and saves the kept counts. Each report's outcome is posted back only after its commit, which is fsynced
// (synchronous=FULL): the event loop never waits for a commit, an fsync or a WAL checkpoint, and nothing is
// acknowledged before it is durable.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { RunReport } from '../core/result.js';
import { SAVE_COUNTS_SQL, type KeptCounts } from './cells.js';
import type { AlertRules } from './alert-store.js';
import { reportIngest, type IngestItem, type IngestSettings } from './sqlite-ingest.js';

/** Reports committed in one transaction at most; more wait for the next one. */
const MAX_BATCH = 256;

/** What the writer thread is started with. */
export interface WriterData extends IngestSettings {
  file: string;
  rules: AlertRules | null;
}

/** A message to the writer thread. */
export type WriterRequest =
  | { kind: 'report'; id: number; json: string; receivedAt: string }
  | { kind: 'counts'; id: number; counts: KeptCounts }
  | { kind: 'rules'; rules: AlertRules | null };

/** The writer thread's answer to a report or counts request. */
export type WriterAnswer =
  | { id: number; outcome: { stored: true } | { stored: false; agent: string } | null }
  | { id: number; error: { message: string; code?: string } };

function runWriter(port: NonNullable<typeof parentPort>, data: WriterData): void {
  const db = new Database(data.file, { timeout: 5000, fileMustExist: true });
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  const ingest = reportIngest(db, data);
  ingest.setAlertRules(data.rules);
  const saveCounts = db.prepare<[string, string, number, string]>(SAVE_COUNTS_SQL);
  let queue: Array<{ id: number; item: IngestItem }> = [];
  let flushScheduled = false;
  const failed = (id: number, error: unknown): WriterAnswer => {
    const { message, code } = error as { message?: unknown; code?: unknown };
    return { id, error: { message: String(message ?? error), ...(typeof code === 'string' ? { code } : {}) } };
  };
  const flush = (): void => {
    flushScheduled = false;
    const batch = queue.slice(0, MAX_BATCH);
    queue = queue.slice(batch.length);
    if (queue.length > 0) schedule();
    if (batch.length === 0) return;
    try {
      const outcomes = ingest.insertBatch(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => port.postMessage({ id: entry.id, outcome: outcomes[index]! }));
    } catch (error) {
      for (const entry of batch) port.postMessage(failed(entry.id, error));
    }
  };
  const schedule = (): void => {
    if (flushScheduled) return;
    flushScheduled = true;
    // setImmediate: the messages already waiting on the port join this batch.
    setImmediate(flush);
  };
  port.on('message', (request: WriterRequest) => {
    if (request.kind === 'rules') {
      ingest.setAlertRules(request.rules);
    } else if (request.kind === 'counts') {
      try {
        const { version, as_of, counted_ms, json } = request.counts;
        saveCounts.run(version, as_of, counted_ms, json);
        port.postMessage({ id: request.id, outcome: null });
      } catch (error) {
        port.postMessage(failed(request.id, error));
      }
    } else {
      // The text was parsed and checked on the event loop; parsed again here, off it, it is the same report.
      const report = JSON.parse(request.json) as RunReport;
      queue.push({ id: request.id, item: { report, json: request.json, receivedAt: request.receivedAt } });
      schedule();
    }
  });
}

if (!isMainThread && parentPort) runWriter(parentPort, workerData as WriterData);
