import type { ProbeResult, Summary } from '../core/result.js';
import type { ReportHead } from '../core/run-report.js';

const CHUNK = 64 * 1024;

/**
 * Writes one RunReport JSON document while results stream in, so a sweep of 65,535 ports never
 * holds its results or their JSON in memory. The document is the same as JSON.stringify of the
 * report; only its keys come in another order (results before finished_at and summary).
 */
export class JsonReportWriter {
  readonly #write: (text: string) => void;
  #buffer: string;
  #count = 0;

  constructor(head: ReportHead, write: (text: string) => void) {
    this.#write = write;
    this.#buffer = `${JSON.stringify(head).slice(0, -1)},"results":[`;
  }

  /** Add one result. */
  add(result: ProbeResult): void {
    this.#buffer += `${this.#count++ === 0 ? '' : ','}${JSON.stringify(result)}`;
    if (this.#buffer.length >= CHUNK) this.#flush();
  }

  /** Close the document with what is known only at the end. */
  end(finishedAt: Date, summary: Summary): void {
    this.#buffer += `],"finished_at":${JSON.stringify(finishedAt.toISOString())},"summary":${JSON.stringify(summary)}}\n`;
    this.#flush();
  }

  #flush(): void {
    this.#write(this.#buffer);
    this.#buffer = '';
  }
}
