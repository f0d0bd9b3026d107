// A fake TCP service for lab tests, run inside a network namespace by Lab.listen().
//
//   node listener.mjs --address A --port P [--port P2] [--banner TEXT]
//                     [--tls-cert FILE --tls-key FILE] [--echo]
//
// Listens on every port, greets each connection with the banner (inside TLS when TLS is on),
// echoes what it receives with --echo, prints "ready" once all ports listen. SIGTERM ends it
// (default action); it exits by itself after 120 s so a lost listener cannot outlive a test run.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

const LIFETIME_MS = 120_000;

const { values } = parseArgs({
  options: {
    address: { type: 'string' },
    port: { type: 'string', multiple: true },
    banner: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    echo: { type: 'boolean', default: false },
  },
});

function fail(message) {
  process.stderr.write(`listener: ${message}\n`);
  process.exit(1);
}

function serve(socket) {
  // Clients reset connections at will (probes, timeouts); that must not end the listener.
  socket.on('error', () => {});
  if (values.banner !== undefined) socket.write(values.banner);
  if (values.echo) socket.pipe(socket);
  else socket.resume();
}

function createServer() {
  if (values['tls-cert'] === undefined) return net.createServer(serve);
  const cert = readFileSync(values['tls-cert']);
  const key = readFileSync(values['tls-key'] ?? fail('--tls-cert needs --tls-key'));
  return tls.createServer({ cert, key }, serve);
}

function listen(port) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: values.address, port }, resolve);
  });
}

setTimeout(() => process.exit(0), LIFETIME_MS);

if (values.address === undefined) fail('--address is required');
const ports = (values.port ?? []).map(Number);
if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
  fail(`--port must be 1-65535, got ${JSON.stringify(values.port ?? [])}`);
}

try {
  await Promise.all(ports.map(listen));
} catch (error) {
  fail(error.message);
}
process.stdout.write('ready\n');
