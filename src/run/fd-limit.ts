import { readFileSync } from 'node:fs';

/** File descriptors kept free for the process itself (stdio, raw sockets, modules, resolver). */
const RESERVED = 64;

/** How many sockets may be open at once under this process's open-files limit (Linux), or Infinity when unknown. */
export function socketBudget(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    return soft === undefined ? Infinity : Math.max(1, Number(soft) - RESERVED);
  } catch {
    return Infinity;
  }
}
