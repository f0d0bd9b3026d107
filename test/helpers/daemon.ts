import type { ChildProcess } from 'node:child_process';

/** Resolves once a daemon printed `text` on stdout or stderr; rejects after `ms` (10 s) or if it exits first. Keeps draining after. */
export function printed(child: ChildProcess, text: string, what: string, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${what} not ready after ${ms / 1000} s: ${output}`)), ms);
    const onExit = (): void => reject(new Error(`${what} exited before it was ready: ${output}`));
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        if (output.includes(text)) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve();
        }
      });
    }
    child.once('exit', onExit);
  });
}
