/**
 * reachgate's version. A constant rather than a read of package.json, so that core does no I/O and a bundled CLI
 * needs no manifest beside it; test/core/version.test.ts fails when it and package.json disagree.
 */
export const VERSION = '0.1.0';
