// What plain Node costs for a TCP connect sweep, to compare with reachgate's figures.
//
//   node bench/tools/node-floor.mjs HOST FIRST LAST CONCURRENCY [--abort] [--timeout MS]
//
// HOST must be loopback or a documentation-range address inside a namespace you created.
// One net.Socket per port, `concurrency` in flight, one state byte per port, a summary on stdout.
// --abort adds two AbortControllers per probe, aborted when the probe ends (as reachgate's runner
// and tcp probe do), to show what that machinery costs on its own; --abort-shared does the same
// but aborts with one shared reason object (no DOMException per abort).
import net from 'node:net';

const [host, firstText, lastText, concText, ...rest] = process.argv.slice(2);
if (!/^(127\.|192\.0\.2\.|198\.51\.100\.|203\.0\.113\.)/.test(host ?? '')) {
  process.stderr.write('node-floor: HOST must be 127.0.0.0/8 or a documentation range\n');
  process.exit(2);
}
const first = Number(firstText);
const last = Number(lastText);
const concurrency = Number(concText);
const sharedReason = rest.includes('--abort-shared') ? { name: 'AbortError' } : undefined;
const withAbort = rest.includes('--abort') || sharedReason !== undefined;
const timeoutIndex = rest.indexOf('--timeout');
const timeoutMs = timeoutIndex >= 0 ? Number(rest[timeoutIndex + 1]) : 2000;
const states = new Uint8Array(last - first + 1); // 1 open, 2 closed, 3 filtered, 4 other
let next = first;
const started = performance.now();

function probe(port) {
  return new Promise((resolve) => {
    const socket = new net.Socket();
    const outer = withAbort ? new AbortController() : null;
    const inner = withAbort ? new AbortController() : null;
    const timer = setTimeout(() => done(3), timeoutMs);
    function done(state) {
      clearTimeout(timer);
      socket.destroy();
      outer?.abort(sharedReason);
      inner?.abort(sharedReason);
      states[port - first] = state;
      resolve();
    }
    socket.once('connect', () => done(1));
    socket.once('error', (error) => done(error.code === 'ECONNREFUSED' ? 2 : 4));
    socket.connect({ host, port });
  });
}

async function worker() {
  while (next <= last) await probe(next++);
}
await Promise.all(Array.from({ length: Math.min(concurrency, last - first + 1) }, worker));
const counts = { open: 0, closed: 0, filtered: 0, other: 0 };
for (const s of states) counts[['', 'open', 'closed', 'filtered', 'other'][s]] += 1;
process.stdout.write(`${JSON.stringify({ ms: Math.round(performance.now() - started), ...counts })}\n`);
