import { commandFailed, exitOnClosedPipe } from './entry.js';
import { runCli } from './main.js';

// The whole CLI's entry (scripts/bundle.mjs bundles it as bundle/src/cli/reachgate.cjs, which bin/reachgate loads):
// the command code in main.ts, ended as every entry ends (entry.ts).
exitOnClosedPipe();
runCli(process.argv.slice(2)).catch(commandFailed);
