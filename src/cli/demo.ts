import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';

// The first-run demo, on loopback only: a service that answers, a port that does not, and what reachgate says of each.
const BIN = fileURLToPath(new URL('../../../bin/reachgate', import.meta.url));

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function demo(): Promise<number> {
  const service = createServer((socket) => socket.end('SSH-2.0-reachgate-demo\r\n'));
  const vacant = createServer();
  const [open, closed] = await Promise.all([listen(service), listen(vacant)]);
  // Free the second port again: nothing listens there now, so the kernel answers with a reset.
  await new Promise((resolve) => vacant.close(resolve));
  const runs: Array<[string, string[]]> = [
    ['an SSH-like service that must answer with its banner', ['probe', 'tcp', `127.0.0.1:${open}`, '--expect-reply', '^SSH-2\\.0']],
    ['a port that must be blocked', ['probe', 'tcp', `127.0.0.1:${closed}`, '--expect', 'blocked']],
  ];
  let failures = 0;
  for (const [what, args] of runs) {
    process.stdout.write(`\n# ${what}\n$ reachgate ${args.join(' ')}\n`);
    // Asynchronous, so that this process's listener can answer the probe.
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'inherit', timeout: 30_000 });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (status !== 0) failures += 1;
  }
  service.close();
  process.stdout.write(`\n${failures === 0 ? 'demo passed' : `demo: ${failures} of ${runs.length} runs failed`}\n`);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await demo();
