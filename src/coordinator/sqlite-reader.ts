// The SQLite store's reads, off the event loop: a worker thread with its own read-only connections to the file
// (the store has two: one for reads, one for whole-matrix counts, so that a read never waits behind a count)
// (WAL: a reader sees the last commit and never waits for the writer, nor the writer for it). The event loop only
// posts a query and takes its rows back, so ingest (its group commits on the main connection) is never behind a
// page query or a count. Two connections: `read` (each statement on the latest commit) and `snap` (one
// transaction, BEGIN ... COMMIT, for a whole-matrix count on one snapshot). The queue is bounded: a read past
// MAX_QUEUED is refused with StoreUnavailableError (503 with Retry-After), never queued without end.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { StoreUnavailableError } from './store.js';

/** Reads waiting for the worker at most; more are refused (503) until it catches up. */
export const MAX_QUEUED_READS = 256;

/** Which of the worker's connections runs a query. */
export type ReaderConnection = 'read' | 'snap';

type Request =
  | { id: number; kind: 'all'; conn: ReaderConnection; sql: string; parameters: ReadonlyArray<string | number | null> }
  | { id: number; kind: 'begin' | 'commit' };
type Answer = { id: number; rows: unknown[] } | { id: number; error: { message: string; code?: string } };

/**
 * The worker's code (run with `eval`: the CLI is one bundled file, so the worker cannot be a module of its own).
 * Self-contained: it gets the database file and better-sqlite3's path through workerData.
 */
function readerMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
  const { parentPort, workerData } = require('node:worker_threads');
  const Database = require(workerData.driver);
  const STATEMENTS_KEPT = 256;
  const open = (): any => new Database(workerData.file, { readonly: true, fileMustExist: true, timeout: 5000 });
  const connections: Record<string, { db: any; statements: Map<string, any> } | undefined> = {};
  const connection = (name: string): { db: any; statements: Map<string, any> } => {
    let one = connections[name];
    if (!one) connections[name] = one = { db: open(), statements: new Map() };
    return one;
  };
  parentPort.on('message', (message: any) => {
    try {
      if (message.kind === 'begin' || message.kind === 'commit') {
        const { db } = connection('snap');
        if (message.kind === 'begin') db.prepare('BEGIN').run();
        else if (db.inTransaction) db.prepare('COMMIT').run();
        parentPort.postMessage({ id: message.id, rows: [] });
        return;
      }
      const { db, statements } = connection(message.conn);
      let statement = statements.get(message.sql);
      if (!statement) {
        // IN lists of every length make many texts: keep the last few hundred statements.
        if (statements.size >= STATEMENTS_KEPT) statements.clear();
        statements.set(message.sql, (statement = db.prepare(message.sql)));
      }
      parentPort.postMessage({ id: message.id, rows: statement.all(...message.parameters) });
    } catch (error: any) {
      parentPort.postMessage({
        id: message.id,
        error: { message: String(error?.message ?? error), code: error?.code },
      });
    }
  });
  /* eslint-enable */
}

/** A worker thread reading one SQLite file; started on first use, ended by close(). */
export class SqliteReader {
  private worker: Worker | null = null;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (rows: unknown[]) => void; reject: (error: Error) => void }>();
  private failure: Error | null = null;

  constructor(private readonly file: string) {}

  /** Run a query (`?` placeholders) on one of the worker's connections; its rows. */
  all<T>(conn: ReaderConnection, sql: string, parameters: ReadonlyArray<string | number | null>): Promise<T[]> {
    return this.send({ id: 0, kind: 'all', conn, sql, parameters }) as Promise<T[]>;
  }

  /** Begin the snapshot connection's transaction (its first read fixes the snapshot). */
  async begin(): Promise<void> {
    await this.send({ id: 0, kind: 'begin' });
  }

  /** End the snapshot connection's transaction, if one is open. */
  async commit(): Promise<void> {
    await this.send({ id: 0, kind: 'commit' });
  }

  private send(request: Request): Promise<unknown[]> {
    if (this.waiting.size >= MAX_QUEUED_READS)
      return Promise.reject(
        new StoreUnavailableError(`${MAX_QUEUED_READS} reads are already waiting for the SQLite reader`),
      );
    const worker = this.start();
    const id = ++this.next;
    // The worker keeps the process alive while a read waits for it, and only then.
    if (this.waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  }

  private start(): Worker {
    if (this.failure) throw this.failure;
    if (this.worker) return this.worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(`(${readerMain.toString()})()`, {
      eval: true,
      workerData: { file: this.file, driver },
    });
    worker.on('message', (answer: Answer) => {
      const waiting = this.waiting.get(answer.id);
      if (!waiting) return;
      this.waiting.delete(answer.id);
      if (this.waiting.size === 0) worker.unref();
      if ('rows' in answer) waiting.resolve(answer.rows);
      else waiting.reject(Object.assign(new Error(answer.error.message), { code: answer.error.code }));
    });
    const fail = (error: Error): void => {
      // A worker that died (out of memory, a crash): every waiting read fails; the next read starts a new one.
      if (this.worker === worker) this.worker = null;
      for (const [, waiting] of this.waiting) waiting.reject(error);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the SQLite reader thread exited (${code})`)));
    // An idle reader does not keep the process alive.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** End the worker (its connections close with it); reads after this fail. */
  async close(): Promise<void> {
    this.failure = new Error('the store is closed');
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}
