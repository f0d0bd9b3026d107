// undici parses HTTP with llhttp compiled to WebAssembly, and Node 20's V8 compiles that module with TurboFan, its
// optimizing compiler, the first time a process sends a request: measured 0.15-0.2 s of CPU and 0.4-0.7 s of wall per
// process on a 2-core machine, in every `agent --once` a cron job starts, every `reachgate matrix`, every HTTP probe.
// Liftoff, V8's baseline WebAssembly compiler, compiles it in a few milliseconds; the parser it makes is slower, which
// a process sending a few requests (or a coordinator's webhooks) never notices. The flag is process-wide, set once
// before undici loads; it concerns WebAssembly only, and nothing else here uses any. Loading undici does no I/O.

let undici: Promise<typeof import('undici')> | undefined;

/** undici, loaded once, with V8 set to compile its HTTP parser (and the global fetch's) with Liftoff only. */
export function loadUndici(): Promise<typeof import('undici')> {
  undici ??= import('node:v8').then(({ setFlagsFromString }) => {
    setFlagsFromString('--liftoff-only');
    return import('undici');
  });
  return undici;
}
