import type { Duplex } from 'node:stream';

/** What came back on an open connection. */
export interface Reply {
  bytes: Buffer;
  matched: boolean;
  /** Why reading stopped: matched, the peer closed, the size cap, the peer fell silent, or the deadline. */
  end: 'matched' | 'closed' | 'full' | 'idle' | 'deadline';
}

const MAX_REPLY_BYTES = 8192;
/** Once some bytes came, this long without more ends the wait: services send a banner or reply in one go. */
const IDLE_MS = 500;

/** Send an optional request, then read until the pattern matches, the peer closes, the cap, or the deadline. */
export function exchange(stream: Duplex, request: Buffer | undefined, pattern: RegExp, signal: AbortSignal): Promise<Reply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let idle: NodeJS.Timeout | undefined;
    const settle = (end: Reply['end']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      stream.removeListener('data', onData);
      stream.removeListener('end', onClose);
      stream.removeListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
      const bytes = Buffer.concat(chunks);
      resolve({ bytes, matched: end === 'matched' || pattern.test(bytes.toString('latin1')), end });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      // latin1 maps every byte to one character, so binary patterns like \x03 work.
      if (pattern.test(Buffer.concat(chunks).toString('latin1'))) settle('matched');
      else if (size >= MAX_REPLY_BYTES) settle('full');
      else if (idle) idle.refresh();
      else idle = setTimeout(() => settle('idle'), IDLE_MS);
    };
    const onClose = (): void => settle('closed');
    const onAbort = (): void => settle('deadline');
    stream.on('data', onData);
    stream.once('end', onClose);
    stream.once('close', onClose);
    stream.on('error', () => {});
    signal.addEventListener('abort', onAbort, { once: true });
    if (request) stream.write(request);
  });
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
