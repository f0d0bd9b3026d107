import type { ProbeResult, RunReport, Summary } from '../core/result.js';
import type { ReportHead } from '../core/run-report.js';
import { RunTable } from './run-table.js';

const CHUNK = 64 * 1024;

/**
 * A run's report held compactly until it is written: each result as its JSON text, in plan order (results come
 * in completion order, and a report lists them in plan order). A text takes a fraction of the memory of the
 * result object it was made from, and the JSON report is written from the texts as they are.
 */
export class HeldRun {
  readonly #texts: string[] = [];
  #head: ReportHead | undefined;
  #finishedAt = '';
  #summary: Summary = { pass: 0, fail: 0, inconclusive: 0, error: 0 };

  /** Hold the result of plan index `index`. */
  add(result: ProbeResult, index: number): void {
    this.#texts[index] = JSON.stringify(result);
  }

  /** The run is done: what its report says besides the results. */
  end(head: ReportHead, finishedAt: Date, summary: Summary): void {
    this.#head = head;
    this.#finishedAt = finishedAt.toISOString();
    this.#summary = summary;
  }

  get summary(): Summary {
    return this.#summary;
  }

  /** The results in plan order, each made from its text when reached. */
  *results(): IterableIterator<ProbeResult> {
    for (const text of this.#texts) yield JSON.parse(text) as ProbeResult;
  }

  /** The JSON report, byte for byte JSON.stringify of the RunReport and a newline, written in chunks. */
  writeJson(write: (chunk: string) => void): void {
    let buffer = `${JSON.stringify({ ...this.#headOrFail(), finished_at: this.#finishedAt }).slice(0, -1)},"results":[`;
    this.#texts.forEach((text, index) => {
      buffer += index === 0 ? text : `,${text}`;
      if (buffer.length >= CHUNK) {
        write(buffer);
        buffer = '';
      }
    });
    write(`${buffer}],"summary":${JSON.stringify(this.#summary)}}\n`);
  }

  /** The human table, made result by result. */
  table(colour: boolean): string {
    const table = new RunTable();
    for (const result of this.results()) table.add(result);
    return table.format({ ...this.#headOrFail(), summary: this.#summary }, colour);
  }

  /** The whole RunReport as objects, for the formats that need it (JUnit, TAP, Nagios). */
  report(): RunReport {
    return {
      ...this.#headOrFail(),
      finished_at: this.#finishedAt,
      results: [...this.results()],
      summary: this.#summary,
    };
  }

  #headOrFail(): ReportHead {
    if (!this.#head) throw new Error('internal fault: the run report was written before the run ended');
    return this.#head;
  }
}
