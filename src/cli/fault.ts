import { readBounded } from '../coordinator/bounded-file.js';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../core/package-root.js';

// The bundled CLI (scripts/bundle.mjs) is one file of generated code; its source map lies beside it. Node reads
// maps only with --enable-source-maps, from the start, which every run would pay for. An internal fault is rare:
// only its stack is mapped, here, when it is printed.

/** A map larger than this is not read: the stack is printed as it is. */
const MAX_MAP_BYTES = 32 * 1024 * 1024;

/** A frame's position: `/path/file.cjs:12:34` or `file:///path/file.js:12:34`. */
const POSITION = /(?:file:\/\/)?(\/[^\s()]+?\.[cm]?js):(\d+):(\d+)/g;

/** An internal fault as printed: its stack, with positions in bundled code mapped back to the TypeScript sources. */
export function faultText(error: unknown): string {
  if (!(error instanceof Error) || typeof error.stack !== 'string') return String(error);
  try {
    return sourceMappedStack(error.stack);
  } catch {
    return error.stack;
  }
}

/** Map every position of a stack whose file has a source map beside it; other positions stay as they are. */
export function sourceMappedStack(stack: string): string {
  const maps = new Map<string, SourceMap | undefined>();
  return stack.replace(POSITION, (position: string, file: string, line: string, column: string) => {
    if (!maps.has(file)) maps.set(file, mapBeside(file));
    const map = maps.get(file);
    if (!map) return position;
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1) as Partial<{
      originalSource: string;
      originalLine: number;
      originalColumn: number;
    }>;
    if (entry.originalSource === undefined || entry.originalLine === undefined) return position;
    const source = entry.originalSource.startsWith('file://')
      ? fileURLToPath(entry.originalSource)
      : resolve(dirname(file), entry.originalSource);
    return `${relative(PACKAGE_ROOT, source)}:${entry.originalLine + 1}:${(entry.originalColumn ?? 0) + 1}`;
  });
}

function mapBeside(file: string): SourceMap | undefined {
  try {
    const text = readBounded(`${file}.map`, MAX_MAP_BYTES, 'source map').toString('utf8');
    return new SourceMap(JSON.parse(text) as SourceMapPayload);
  } catch {
    // No map beside the file, one too large or unreadable: the stack keeps the bundle's positions.
    return undefined;
  }
}
