// The SQLite store's writes of reports and counts, off the event loop: a worker thread (sqlite-writer-thread.ts)
// with its own connection commits them, with group commit; the event loop only posts a report's text and takes
// its outcome back after the commit. Started on first use, so that token commands opening the store start no thread.
import { Worker } from 'node:worker_threads';
import type { KeptCounts } from './cells.js';
import type { AlertRules } from './alert-store.js';
import type { AddReportOutcome } from './store.js';
import type { WriterAnswer, WriterData, WriterRequest } from './sqlite-writer-thread.js';

/**
 * The thread's module: beside this one as tsc compiles it (dist/src/coordinator/, or src/ run as TypeScript), and
 * beside the CLI bundle where the bundle is the code (scripts/bundle.mjs writes bundle/src/cli/sqlite-writer-thread.cjs;
 * there import.meta.url is the bundle's own).
 */
const THREAD_URL = new URL(
  `./sqlite-writer-thread.${/\.(c?js|ts)$/.exec(import.meta.url)?.[1] ?? 'js'}`,
  import.meta.url,
);

/** The writer thread of one SQLite file. */
export class SqliteWriter {
  private worker: Worker | null = null;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (outcome: unknown) => void; reject: (error: Error) => void }>();
  private rules: AlertRules | null = null;
  private closed = false;
  /** Called once nothing waits any more (close() waiting for the last writes). */
  private onDrained: (() => void) | null = null;

  constructor(private readonly settings: Omit<WriterData, 'rules'>) {}

  /** Store a report's checked text (ids already stored are not stored again); resolves after its commit. */
  addReport(json: string, receivedAt: string): Promise<AddReportOutcome> {
    return this.send((id) => ({ kind: 'report', id, json, receivedAt })) as Promise<AddReportOutcome>;
  }

  /** Save the last whole-matrix count. */
  async saveCounts(counts: KeptCounts): Promise<void> {
    await this.send((id) => ({ kind: 'counts', id, counts }));
  }

  /** The alert rules the ingest transaction steps from now on (null: none). */
  setAlertRules(rules: AlertRules | null): void {
    this.rules = rules;
    this.worker?.postMessage({ kind: 'rules', rules } satisfies WriterRequest);
  }

  /** Wait for every write posted so far, then end the thread (its connection closes with it); later writes fail. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.waiting.size > 0) await new Promise<void>((resolve) => (this.onDrained = resolve));
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }

  private send(request: (id: number) => WriterRequest): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    const worker = this.start();
    const id = ++this.next;
    // The thread keeps the process alive while a write waits for it, and only then.
    if (this.waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage(request(id));
    });
  }

  private settle(
    id: number,
    settle: (waiting: { resolve: (outcome: unknown) => void; reject: (error: Error) => void }) => void,
  ): void {
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) {
      this.worker?.unref();
      this.onDrained?.();
      this.onDrained = null;
    }
    settle(waiting);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(THREAD_URL, { workerData: { ...this.settings, rules: this.rules } satisfies WriterData });
    worker.on('message', (answer: WriterAnswer) =>
      this.settle(answer.id, (waiting) =>
        'outcome' in answer
          ? waiting.resolve(answer.outcome)
          : waiting.reject(Object.assign(new Error(answer.error.message), { code: answer.error.code })),
      ),
    );
    const fail = (error: Error): void => {
      // A thread that died (out of memory, a crash): every waiting write fails unacknowledged; the next starts a new one.
      if (this.worker === worker) this.worker = null;
      for (const id of [...this.waiting.keys()]) this.settle(id, (waiting) => waiting.reject(error));
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the SQLite writer thread exited (${code})`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
