import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/** A problem in a profile or site file, at a line and column. */
export interface Problem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** A YAML file parsed with positions, so every problem can say where it is. */
export class YamlSource {
  readonly file: string;
  readonly text: string;
  readonly document: Document;
  readonly problems: Problem[] = [];
  readonly #lines = new LineCounter();

  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
    this.document = parseDocument(text, { lineCounter: this.#lines, prettyErrors: true, uniqueKeys: true });
    for (const error of [...this.document.errors, ...this.document.warnings]) {
      const [line, col] = error.linePos?.[0] ? [error.linePos[0].line, error.linePos[0].col] : [1, 1];
      this.problems.push({
        file,
        line,
        col,
        message: `YAML: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      });
    }
  }

  /** Read and parse a file; an unreadable file is a problem at 1:1. */
  static read(file: string): YamlSource {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      const source = new YamlSource(file, '');
      source.problems.push({
        file,
        line: 1,
        col: 1,
        message: `cannot read the file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      });
      return source;
    }
    return new YamlSource(file, text);
  }

  /** The file's data as plain JavaScript values. */
  data(): unknown {
    return this.document.toJS({ maxAliasCount: 100 });
  }

  /** Report a problem at a data path (keys and indexes); `atKey` points at the key rather than the value. */
  report(path: ReadonlyArray<string | number>, message: string, atKey = false): void {
    const offset = this.offsetOf(path, atKey);
    const { line, col } = this.#lines.linePos(offset);
    this.problems.push({ file: this.file, line, col, message });
  }

  /** Where a path starts in the text; the nearest existing ancestor when the path is missing. */
  offsetOf(path: ReadonlyArray<string | number>, atKey = false): number {
    let node: unknown = this.document.contents;
    let offset = rangeStart(node) ?? 0;
    for (const [index, step] of path.entries()) {
      const last = index === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(step),
        );
        if (!pair) return offset;
        if (last && atKey) return rangeStart(pair.key) ?? offset;
        node = pair.value;
      } else if (isSeq(node)) {
        node = node.items[Number(step)];
      } else {
        return offset;
      }
      offset = rangeStart(node) ?? offset;
    }
    return offset;
  }
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}

/** Format problems as `file:line:col: message`, in file order. */
export function formatProblems(problems: readonly Problem[]): string {
  return [...problems]
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col)
    .map((problem) => `${problem.file}:${problem.line}:${problem.col}: ${problem.message}`)
    .join('\n');
}
