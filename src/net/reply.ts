import type { Duplex } from 'node:stream';
import { readFramed, type FramedRead } from './framed-read.js';

/** What came back on an open connection. */
export interface Reply {
  bytes: Buffer;
  matched: boolean;
  /** Why reading stopped: matched, the peer closed, the size cap, the peer fell silent, or the deadline. */
  end: 'matched' | Exclude<FramedRead['end'], 'complete' | 'invalid'>;
}

const MAX_REPLY_BYTES = 8192;
/** Once some bytes came, this long without more ends the wait: services send a banner or reply in one go. */
const IDLE_MS = 500;

/** Send an optional request, then read until the pattern matches, the peer closes, the cap, or the deadline. */
export async function exchange(
  stream: Duplex,
  request: Buffer | undefined,
  pattern: RegExp,
  signal: AbortSignal,
): Promise<Reply> {
  // latin1 maps every byte to one character, so binary patterns like \x03 work.
  const matches = (bytes: Buffer): boolean => pattern.test(bytes.toString('latin1'));
  const reading = readFramed(stream, {
    frame: (bytes) => (matches(bytes) ? { size: bytes.length } : undefined),
    maxBytes: MAX_REPLY_BYTES,
    idleMs: IDLE_MS,
    signal,
  });
  if (request && !signal.aborted) stream.write(request);
  const { bytes, end } = await reading;
  // A pattern is never invalid: the read ends complete (matched) or for a reason outside the bytes.
  if (end === 'complete' || end === 'invalid') return { bytes, matched: true, end: 'matched' };
  return { bytes, matched: matches(bytes), end };
}

/** Bytes as a short, printable, quoted string: control bytes become \r, \n or \xHH. */
export function showBytes(bytes: Buffer, limit = 120): string {
  let text = '';
  for (const byte of bytes.subarray(0, limit)) {
    if (byte === 0x0d) text += '\\r';
    else if (byte === 0x0a) text += '\\n';
    else if (byte === 0x5c) text += '\\\\';
    else if (byte === 0x22) text += '\\"';
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `"${text}"${bytes.length > limit ? `... (${bytes.length} bytes)` : ''}`;
}
