// Duplicate object keys. JSON.parse keeps the last of two equal keys, other readers (jq, a
// PostgreSQL json column, a browser's viewer) may keep the first: the stored text of a report must
// mean exactly what the coordinator checked, so a body with a repeated key is refused.

type Frame = { kind: 'object'; keys: Set<string>; key: string; expectKey: boolean } | { kind: 'array'; index: number };

/** A repeated key: the JSON Pointer of its second occurrence (a long key cut short). */
export interface DuplicateKey {
  path: string;
}

/**
 * The first object key that occurs twice in one object of `text`, or null. `text` must be valid
 * JSON (JSON.parse accepted it): one linear scan, memory bounded by the text's length.
 */
export function findDuplicateKey(text: string): DuplicateKey | null {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = closingQuote(text, i);
      const top = stack.at(-1);
      if (top?.kind === 'object' && top.expectKey) {
        // Keys compare by value: "a" and "\u0061" are the same key.
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.keys.has(key)) return { path: `${pointerOf(stack)}/${escapeToken(key)}` };
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
    } else if (c === 0x7b) {
      stack.push({ kind: 'object', keys: new Set(), key: '', expectKey: true });
    } else if (c === 0x5b) {
      stack.push({ kind: 'array', index: 0 });
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
    } else if (c === 0x2c) {
      const top = stack.at(-1);
      if (top?.kind === 'object') top.expectKey = true;
      else if (top) top.index += 1;
    }
  }
  return null;
}

/** What one pass over a JSON text found before it is parsed: where it nests too deep, and how many object keys it has. */
export interface JsonShape {
  /** The offset where the text opens its (max + 1)th nested array or object, or -1. */
  deep: number;
  /** Object keys in the text: strings followed by a colon. */
  keys: number;
}

/**
 * One pass over a JSON text (string contents are skipped with indexOf): how deep it nests, stopping at the
 * first array or object past `max`, and how many object keys it writes. Any text is scanned safely (an
 * unterminated string ends the scan); the counts mean something only for text that JSON.parse accepts.
 */
export function scanJson(text: string, max: number): JsonShape {
  let depth = 0;
  let keys = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = closingQuote(text, i);
      if (end === -1) break;
      i = afterSpace(text, end + 1);
      if (text.charCodeAt(i) === 0x3a) keys++;
      i--;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return { deep: i, keys };
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return { deep: -1, keys };
}

/** Longest top-level string topLevelString() returns (longer: null). */
const TOP_LEVEL_STRING_MAX = 4096;

/**
 * The string value of `key` in the top-level object of a JSON text, without parsing the text: the first occurrence,
 * null when it is absent, not a string, or longer than 4,096 characters. Scans up to that key (string contents
 * skipped with indexOf, nested values by their depth), so a key near the start costs next to nothing.
 */
export function topLevelString(text: string, key: string): string | null {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = closingQuote(text, i);
      if (end === -1) return null;
      const colon = afterSpace(text, end + 1);
      if (depth === 1 && text.charCodeAt(colon) === 0x3a && stringValue(text, i, end) === key)
        return stringAt(text, afterSpace(text, colon + 1));
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return null;
}

/** The string value that starts at `start`: null when none does there, or it is longer than TOP_LEVEL_STRING_MAX. */
function stringAt(text: string, start: number): string | null {
  if (text.charCodeAt(start) !== 0x22) return null;
  const close = closingQuote(text, start);
  return close === -1 || close - start > TOP_LEVEL_STRING_MAX ? null : stringValue(text, start, close);
}

/** The index of the first character at or after `from` that is not JSON whitespace. */
function afterSpace(text: string, from: number): number {
  let i = from;
  for (let c = text.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = text.charCodeAt(++i));
  return i;
}

/** The value of the JSON string between the quotes at `open` and `close` (null when its escapes are not valid). */
function stringValue(text: string, open: number, close: number): string | null {
  const raw = text.slice(open + 1, close);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return null;
  }
}

/**
 * The own keys of every object in a parsed JSON value. JSON.parse keeps one property per distinct key, so a
 * value with fewer keys than its text wrote (scanJson) repeats a key somewhere.
 */
export function countKeys(value: unknown): number {
  let keys = 0;
  const pending: unknown[] = [value];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (Array.isArray(next)) {
      for (const item of next) if (item !== null && typeof item === 'object') pending.push(item);
    } else {
      for (const key in next as Record<string, unknown>) {
        keys++;
        const child = (next as Record<string, unknown>)[key];
        if (child !== null && typeof child === 'object') pending.push(child);
      }
    }
  }
  return keys;
}

/** The index of the quote that closes the string opening at `open` (a quote after an even run of backslashes), or -1. */
function closingQuote(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  for (;;) {
    if (end === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes += 1;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

/** The JSON Pointer of the innermost open value. */
function pointerOf(stack: readonly Frame[]): string {
  let pointer = '';
  for (const frame of stack.slice(0, -1))
    pointer += `/${frame.kind === 'object' ? escapeToken(frame.key) : frame.index}`;
  return pointer;
}

/** Longest key shown in a path: a message must not echo a megabyte key back. */
const TOKEN_SHOWN = 64;

/** A key as a JSON Pointer token (RFC 6901: `~` is `~0`, `/` is `~1`), a long one cut short with `…`. */
export function escapeToken(key: string): string {
  const shown = key.length > TOKEN_SHOWN ? `${key.slice(0, TOKEN_SHOWN)}…` : key;
  return shown.replace(/~/g, '~0').replace(/\//g, '~1');
}
