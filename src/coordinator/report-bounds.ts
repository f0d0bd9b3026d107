import { escapeToken } from './json-keys.js';
import { EVIDENCE_DEPTH_MAX, EVIDENCE_SIZE_MAX, NAME_MAX, TEXT_MAX } from './limits.js';

/** Why a value is out of bounds: the JSON Pointer of the value and the bound it breaks. */
export interface BoundsProblem {
  path: string;
  message: string;
}

/**
 * The bounds the schema cannot say for values it does not name (unknown properties, evidence):
 * every key at most NAME_MAX characters, every string at most TEXT_MAX, and each result's
 * evidence at most EVIDENCE_DEPTH_MAX levels deep and EVIDENCE_SIZE_MAX characters as JSON.
 * Runs after the schema, on a parsed report (at most the body limit, nesting already bounded).
 */
export function findBoundsProblem(report: unknown): BoundsProblem | null {
  const results = (report as { results?: unknown }).results;
  if (Array.isArray(results)) {
    for (let index = 0; index < results.length; index++) {
      const evidence = (results[index] as { evidence?: unknown } | null)?.evidence;
      if (evidence === undefined) continue;
      // Most evidence is small and shallow: one walk that allocates nothing says so; the pointer and the exact size
      // are worked out only for evidence that may break a bound.
      const bound = jsonLengthBound(evidence, EVIDENCE_DEPTH_MAX);
      if (bound >= 0 && bound <= EVIDENCE_SIZE_MAX) continue;
      const path = `/results/${index}/evidence`;
      const deep = deeperThan(evidence, EVIDENCE_DEPTH_MAX, path);
      if (deep) return { path: deep, message: `nests deeper than ${EVIDENCE_DEPTH_MAX} levels of evidence` };
      const size = JSON.stringify(evidence).length;
      if (size > EVIDENCE_SIZE_MAX)
        return { path, message: `must NOT be larger than ${EVIDENCE_SIZE_MAX} characters as JSON (it is ${size})` };
    }
  }
  return withinTextBounds(report) ? null : oversized(report, '');
}

/** More characters than any number takes in JSON (`-1.2345678901234567e-308`: 24). */
const NUMBER_JSON_MAX = 25;

/**
 * An upper bound of JSON.stringify(value).length (every character of a string or key counted as a six-character
 * escape), or -1 when `value` nests deeper than `levels` levels (the value itself is the first). Allocates nothing.
 */
function jsonLengthBound(value: unknown, levels: number): number {
  if (typeof value === 'string') return value.length * 6 + 2;
  if (value === null || typeof value !== 'object') return NUMBER_JSON_MAX;
  if (levels === 0) return -1;
  let total = 2;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = jsonLengthBound(value[i], levels - 1);
      if (item < 0) return -1;
      total += item + 1;
    }
    return total;
  }
  for (const key in value) {
    const item = jsonLengthBound((value as Record<string, unknown>)[key], levels - 1);
    if (item < 0) return -1;
    total += key.length * 6 + 4 + item;
  }
  return total;
}

/** Whether every key in `value` is at most NAME_MAX characters and every string at most TEXT_MAX. Allocates nothing. */
function withinTextBounds(value: unknown): boolean {
  if (typeof value === 'string') return value.length <= TEXT_MAX;
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!withinTextBounds(value[i])) return false;
    return true;
  }
  for (const key in value) {
    if (key.length > NAME_MAX || !withinTextBounds((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/** Where a value sits: its parent's place and its key (the JSON Pointer is spelled out only for a problem). */
interface Place {
  parent: Place | null;
  key: string;
}

/** The JSON Pointer of a place below `base`. */
function pointer(place: Place | null, base: string): string {
  const keys: string[] = [];
  for (let at = place; at; at = at.parent) keys.push(escapeToken(at.key));
  return (
    base +
    keys
      .reverse()
      .map((key) => `/${key}`)
      .join('')
  );
}

/** The path of the first value nested deeper than `max` levels below `value`, or null. */
function deeperThan(value: unknown, max: number, path: string): string | null {
  const pending: Array<{ value: unknown; place: Place | null; depth: number }> = [{ value, place: null, depth: 1 }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (next.value === null || typeof next.value !== 'object') continue;
    if (next.depth > max) return pointer(next.place, path);
    for (const key in next.value)
      pending.push({
        value: (next.value as Record<string, unknown>)[key],
        place: { parent: next.place, key },
        depth: next.depth + 1,
      });
  }
  return null;
}

/** The first key longer than NAME_MAX or string longer than TEXT_MAX anywhere in `value`. */
function oversized(value: unknown, path: string): BoundsProblem | null {
  const pending: Array<{ value: unknown; place: Place | null }> = [{ value, place: null }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { value: current } = next;
    if (typeof current === 'string') {
      if (current.length > TEXT_MAX)
        return { path: pointer(next.place, path) || '/', message: `must NOT have more than ${TEXT_MAX} characters` };
    } else if (current !== null && typeof current === 'object') {
      for (const key in current) {
        const place = { parent: next.place, key };
        if (key.length > NAME_MAX)
          return { path: pointer(place, path), message: `has a key of more than ${NAME_MAX} characters` };
        const child = (current as Record<string, unknown>)[key];
        // Numbers, booleans and null cannot break a bound: not queued.
        if (typeof child === 'string' ? child.length > TEXT_MAX : child !== null && typeof child === 'object')
          pending.push({ value: child, place });
      }
    }
  }
  return null;
}
