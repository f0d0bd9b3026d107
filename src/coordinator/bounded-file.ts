import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { UsageError } from '../core/usage-error.js';

/** A small file read whole, at most `max` bytes; anything else is a UsageError naming the file. */
export function readBounded(file: string, max: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size > max) throw new UsageError(`the ${what} ${file} is ${size} bytes, more than the ${max} a ${what} may be`);
    const bytes = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const count = readSync(fd, bytes, read, size - read, read);
      if (count === 0) break;
      read += count;
    }
    return bytes.subarray(0, read);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  } finally {
    closeSync(fd);
  }
}
