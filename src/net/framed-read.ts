import type { Readable } from 'node:stream';

/** What a protocol makes of the bytes read so far: a whole frame of `size` bytes, no frame at all, or not yet. */
export type FrameCheck = { size: number } | { invalid: string } | undefined;

/** How to read one frame. */
export interface FramedReadOptions {
  /** Where the frame ends, once the bytes read so far hold it. */
  frame(bytes: Buffer): FrameCheck;
  /** Most bytes read: reaching them without a whole frame ends the read as `full`. */
  maxBytes: number;
  /** The deadline: an already aborted signal ends the read before it starts. */
  signal: AbortSignal;
  /** Once some bytes came, this long without more ends the read as `idle`. */
  idleMs?: number;
}

/** How a read ended, with everything read. */
export interface FramedRead {
  /** Every byte read, the frame's and any after it. */
  bytes: Buffer;
  end: 'complete' | 'invalid' | 'closed' | 'full' | 'idle' | 'deadline';
  /** The frame, when complete. */
  frame?: Buffer;
  /** Why the bytes are no frame of the protocol, when invalid. */
  invalid?: string;
}

/**
 * Read until a frame is complete, the bytes are no frame, the peer closes or resets, the byte bound, the idle
 * bound, or the deadline. Settles exactly once and leaves no listener or timer behind.
 */
export function readFramed(stream: Readable, options: FramedReadOptions): Promise<FramedRead> {
  const { signal, maxBytes, idleMs } = options;
  if (signal.aborted) return Promise.resolve({ bytes: Buffer.alloc(0), end: 'deadline' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let idle: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (end: FramedRead['end'], found: Pick<FramedRead, 'frame' | 'invalid'> = {}): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      stream.removeListener('data', onData);
      stream.removeListener('end', onClose);
      stream.removeListener('close', onClose);
      stream.removeListener('error', onClose);
      signal.removeEventListener('abort', onAbort);
      resolve({ bytes: Buffer.concat(chunks), end, ...found });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      const bytes = Buffer.concat(chunks);
      const found = options.frame(bytes);
      if (found && 'invalid' in found) settle('invalid', { invalid: found.invalid });
      else if (found) settle('complete', { frame: bytes.subarray(0, found.size) });
      else if (size >= maxBytes) settle('full');
      else if (idleMs === undefined) return;
      else if (idle) idle.refresh();
      else idle = setTimeout(() => settle('idle'), idleMs);
    };
    const onClose = (): void => settle('closed');
    const onAbort = (): void => settle('deadline');
    stream.on('data', onData);
    stream.once('end', onClose);
    stream.once('close', onClose);
    // A reset (a daemon refusing this host, or the request) ends the read like a close.
    stream.once('error', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Frames with a big-endian length prefix of `prefixBytes` (2 for DNS, 4 for Kerberos); the frame is the payload. */
export function lengthPrefixed(prefixBytes: 2 | 4, maxLength: number): (bytes: Buffer) => FrameCheck {
  return (bytes) => {
    if (bytes.length < prefixBytes) return undefined;
    const length = prefixBytes === 2 ? bytes.readUInt16BE(0) : bytes.readUInt32BE(0);
    if (length > maxLength) return { invalid: `a length prefix of ${length} bytes, more than ${maxLength}` };
    return bytes.length >= prefixBytes + length ? { size: prefixBytes + length } : undefined;
  };
}
