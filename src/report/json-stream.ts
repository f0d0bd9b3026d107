import type { ProbeResult, Summary } from '../core/result.js';
import type { ReportHead } from '../core/run-report.js';

const CHUNK = 64 * 1024;

/**
 * Writes one RunReport JSON document while results stream in, so a sweep of 65,535 ports never
 * holds its results or their JSON in memory. The document is the same as JSON.stringify of the
 * report; only its keys come in another order (results before finished_at and summary).
 * The head may come after the first results (`open`): the probes need not wait for what it costs
 * (crypto for its id, the host name); results added before it wait in the buffer.
 */
export class JsonReportWriter {
  readonly #write: (text: string) => void;
  /** The document's start until it is written; '' once written; undefined until the head is known. */
  #opening: string | undefined;
  #buffer = '';
  #count = 0;

  constructor(write: (text: string) => void, head?: ReportHead) {
    this.#write = write;
    if (head !== undefined) this.open(head);
  }

  /** The report's head: what comes before its results. */
  open(head: ReportHead): void {
    if (this.#opening !== undefined) throw new Error('the report head is set already');
    this.#opening = `${JSON.stringify(head).slice(0, -1)},"results":[`;
    if (this.#buffer.length >= CHUNK) this.#flush();
  }

  /** Add one result. */
  add(result: ProbeResult): void {
    this.#buffer += `${this.#count++ === 0 ? '' : ','}${JSON.stringify(result)}`;
    if (this.#buffer.length >= CHUNK && this.#opening !== undefined) this.#flush();
  }

  /** Close the document with what is known only at the end (the head must be set by now). */
  end(finishedAt: Date, summary: Summary): void {
    if (this.#opening === undefined) throw new Error('the report has no head');
    this.#buffer += `],"finished_at":${JSON.stringify(finishedAt.toISOString())},"summary":${JSON.stringify(summary)}}\n`;
    this.#flush();
  }

  #flush(): void {
    this.#write(`${this.#opening!}${this.#buffer}`);
    this.#opening = '';
    this.#buffer = '';
  }
}
