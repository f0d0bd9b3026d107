// The `scan` option apart from the SYN engine (syn-probe.ts): the tcp kind reads it without loading raw sockets.

/** How TCP is probed: a full connect, a SYN from a raw socket, or SYN where the raw socket is available. */
export type ScanMode = 'syn' | 'connect' | 'auto';

/** The scan modes, as `--scan` and the profile option `scan` take them. */
export const SCAN_MODES: readonly ScanMode[] = ['syn', 'connect', 'auto'];
