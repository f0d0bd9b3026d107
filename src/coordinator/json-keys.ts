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

/** The index of the quote that closes the string opening at `open` (a quote after an even run of backslashes). */
function closingQuote(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  for (;;) {
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
