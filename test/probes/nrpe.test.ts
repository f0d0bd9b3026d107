import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import t from 'tap';
import { LAB, type Lab, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { printed } from '../helpers/daemon.js';
import { namespaceCli, probeJson } from '../helpers/cli.js';
import { encodeQuery, readResponse } from '../../src/net/nrpe.js';
import nrpe from '../../probes/nrpe.js';

// NRPE against Debian's nagios-nrpe-server (nrpe 4.1): anonymous-DH TLS (its default without a
// certificate), certificate TLS, and no TLS (-n).
const SERVER = LAB.server.v4;
const CLIENT = LAB.client.v4;
const ROUTER = LAB.router.clientV4;
const PORT = {
  adh: 5666,
  cert: 5667,
  plain: 5668,
  refusing: 5669,
  v2Only: 5670,
  corrupt: 5671,
  drop: 15666,
  prohibited: 25666,
  vacant: 5699,
};

t.test("a v4 query is padded to a v2 packet's 1036 bytes and carries the CRC-32 of its content", async (t) => {
  const v4 = encodeQuery(4, '_NRPE_CHECK');
  t.equal(v4.length, 1036);
  t.same([v4.readInt16BE(0), v4.readInt16BE(2), v4.readUInt32BE(12)], [4, 1, 1020], 'version 4, query, buffer length');
  t.equal(v4.subarray(16, 28).toString('latin1'), '_NRPE_CHECK\0');
  const zeroed = Buffer.from(v4);
  zeroed.writeUInt32BE(0, 4);
  t.equal(v4.readUInt32BE(4), crc32(zeroed));
  const v2 = encodeQuery(2, '_NRPE_CHECK');
  t.equal(v2.length, 1036);
  t.same([v2.readInt16BE(0), v2.readInt16BE(2)], [2, 1]);
  t.equal(v2.subarray(10, 22).toString('latin1'), '_NRPE_CHECK\0');
});

t.test('a response is read whole before it is judged, and its CRC-32 is checked', async (t) => {
  const output = Buffer.from('NRPE v4.1.0\0');
  const response = Buffer.concat([Buffer.alloc(16), output]);
  response.writeInt16BE(4, 0);
  response.writeInt16BE(2, 2);
  response.writeUInt32BE(output.length, 12);
  response.writeUInt32BE(crc32(response), 4);
  t.match(readResponse(response), {
    complete: true,
    size: 28,
    response: { version: 4, type: 2, resultCode: 0, output: 'NRPE v4.1.0', crcOk: true },
  });
  t.same(readResponse(response.subarray(0, 20)), { complete: false }, 'a partial packet waits for more');
  const corrupt = Buffer.from(response);
  corrupt[20] = corrupt[20]! ^ 0x01;
  t.match(readResponse(corrupt), { complete: true, response: { crcOk: false } });
  t.match(readResponse(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), {
    complete: false,
    reason: /packet version 18516/,
  });
  const huge = Buffer.from(response);
  huge.writeUInt32BE(1_000_000, 12);
  t.match(readResponse(huge), { complete: false, reason: /claiming 1000000 bytes/ });
});

t.test('TLS is the default, also for a profile that does not mention it; tls must be true or false', async (t) => {
  t.same(nrpe.parseOptions({}), { tls: true });
  t.same(nrpe.parseOptions({ tls: false }), { tls: false });
  t.throws(() => nrpe.parseOptions({ tls: 'maybe' }), {
    name: 'UsageError',
    message: 'Expected the `--tls` option to be true or false, got `maybe` (string)',
  });
});

// In front of a real nrpe: a gate that closes on any packet but v2, as nrpe 2.x and 3.x do on a v4
// packet, or a relay that flips one bit of the daemon's response. Ends itself after 120 s.
const RELAY = `
const net = require('node:net');
const [address, upstreamAddress, upstreamPort, ...plans] = process.argv.slice(1);
let ready = 0;
for (const plan of plans) {
  const [port, mode] = plan.split(':');
  const server = net.createServer((client) => {
    client.on('error', () => {});
    client.once('data', (first) => {
      if (mode === 'v2-only' && first.readInt16BE(0) !== 2) return client.destroy();
      const upstream = net.connect(Number(upstreamPort), upstreamAddress);
      upstream.on('error', () => client.destroy());
      upstream.write(first);
      client.on('data', (chunk) => upstream.write(chunk));
      const reply = [];
      upstream.on('data', (chunk) => reply.push(chunk));
      upstream.on('end', () => {
        const bytes = Buffer.concat(reply);
        if (mode === 'corrupt' && bytes.length > 20) bytes[20] ^= 0x01;
        client.end(bytes);
      });
    });
  });
  server.listen(Number(port), address, () => { if (++ready === plans.length) console.log('ready'); });
}
setTimeout(() => process.exit(0), 120000);
`;

/** Resolves once something listens on TCP `port` in `ns` (nrpe prints nothing when ready); bounded to 10 s. */
async function listening(lab: Lab, ns: string, port: number, what: string): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    const run = await lab.exec(ns, 'ss', ['-Hltn', `sport = :${port}`]);
    if (run.stdout.trim() !== '') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} does not listen on ${port} after 10 s`);
}

t.test('against real nrpe daemons in the lab', async (t) => {
  if (needsLab(t)) return;
  const { lab, dir } = await filteredLab(t, 'nrpe', {
    protocols: ['tcp'],
    drop: [PORT.drop],
    prohibited: [PORT.prohibited],
  });
  const cert = await lab.certificate({ cn: 'nrpe.test', sans: ['nrpe.test', SERVER] });

  /** Start nrpe in the foreground in the server namespace; `-n` turns TLS off. */
  const daemon = async (port: number, options: { tls: 'adh' | 'cert' | 'off'; allowed?: string }): Promise<void> => {
    const conf = join(dir, `nrpe-${port}.cfg`);
    await writeFile(
      conf,
      [
        `pid_file=${join(dir, `nrpe-${port}.pid`)}`,
        `server_port=${port}`,
        `server_address=${SERVER}`,
        'nrpe_user=nagios',
        'nrpe_group=nagios',
        // The relays connect from the server's own address.
        `allowed_hosts=${options.allowed ?? `${CLIENT},${SERVER}`}`,
        'dont_blame_nrpe=0',
        'debug=0',
        'command_timeout=10',
        'connection_timeout=30',
        // Nothing to the host's syslog.
        'disable_syslog=1',
        ...(options.tls === 'cert'
          ? [`ssl_cert_file=${cert.certFile}`, `ssl_privatekey_file=${cert.keyFile}`, 'ssl_use_adh=0']
          : []),
        '',
      ].join('\n'),
    );
    await lab.spawn(lab.ns.server, 'nrpe', ['-c', conf, '-f', ...(options.tls === 'off' ? ['-n'] : [])]);
    await listening(lab, lab.ns.server, port, `nrpe on port ${port}`);
  };
  await Promise.all([
    daemon(PORT.adh, { tls: 'adh' }),
    daemon(PORT.cert, { tls: 'cert' }),
    daemon(PORT.plain, { tls: 'off' }),
    daemon(PORT.refusing, { tls: 'adh', allowed: '127.0.0.1' }),
    daemon(PORT.drop, { tls: 'adh' }),
    daemon(PORT.prohibited, { tls: 'adh' }),
  ]);
  const relay = await lab.spawn(lab.ns.server, process.execPath, [
    '-e',
    RELAY,
    SERVER,
    SERVER,
    String(PORT.plain),
    `${PORT.v2Only}:v2-only`,
    `${PORT.corrupt}:corrupt`,
  ]);
  await printed(relay, 'ready', 'the NRPE relay');

  const client = await namespaceCli(t, lab.ns.client);
  /** Probe from the client namespace and return the RunReport it printed. */
  const probe = (args: string[]) => probeJson('nrpe', args, { via: client });

  t.test(
    'nrpe without a certificate answers over anonymous-DH TLS with its version (the default port, TLS by default)',
    async (t) => {
      const { code, result } = await probe([SERVER]);
      t.equal(code, 0);
      t.match(result, {
        state: 'open',
        verdict: 'pass',
        attempts: 1,
        check: { ok: true, detail: /^"NRPE v4\.\d+\.\d+"$/ },
        target: { port: 5666, protocol: 'tcp' },
      });
      t.match(result.evidence, {
        version_string: /^NRPE v4\./,
        packet_version: 4,
        tls_mode: 'anonymous DH',
        result_code: 0,
        tls: { protocol: 'TLSv1.2', cipher: /^ADH-/, anonymous: true },
      });
      t.match(result.reason, /^connected in .* \(packet v4, TLS anonymous DH ADH-[A-Z0-9-]+\); "NRPE v4\.[\d.]+"$/);
    },
  );

  t.test('nrpe with a certificate shows it, as the tcp probe would', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.cert}`]);
    t.match(result, { state: 'open', verdict: 'pass' });
    t.match(result.evidence, {
      tls_mode: 'certificate',
      version_string: /^NRPE v4\./,
      tls: { subject: 'CN=nrpe.test', sans: ['DNS:nrpe.test', `IP Address:${SERVER}`], days_left: Number },
    });
  });

  t.test('--no-tls talks to a daemon started with -n', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.plain}`, '--no-tls']);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      evidence: { tls_mode: 'off', packet_version: 4, version_string: /^NRPE v4\./ },
    });
    t.notOk((result.evidence as Record<string, unknown>).tls);
  });

  t.test('TLS against a daemon started with -n is a failed check that suggests --no-tls', async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.plain}`]);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: /^TLS handshake failed: .*try --no-tls\)$/ },
    });
  });

  t.test('--no-tls against a TLS daemon is a failed check, not open-and-fine', async (t) => {
    const { result } = await probe([SERVER, '--no-tls']);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      attempts: 2,
      check: { ok: false, detail: /closed the connection without answering \(v4 and v2 queries\).*expects TLS/ },
    });
  });

  t.test(
    'a daemon that does not list this host in allowed_hosts closes at once: a failed check naming allowed_hosts',
    async (t) => {
      const { result } = await probe([`${SERVER}:${PORT.refusing}`]);
      t.match(result, { state: 'open', verdict: 'fail', check: { ok: false, detail: /allowed_hosts/ } });
    },
  );

  t.test(
    'behind a gate that closes on v4 packets as nrpe 3.x does, the probe asks again in v2 and the real daemon answers',
    async (t) => {
      const { result } = await probe([`${SERVER}:${PORT.v2Only}`, '--no-tls']);
      t.match(result, {
        state: 'open',
        verdict: 'pass',
        attempts: 2,
        evidence: { packet_version: 2, version_string: /^NRPE v4\./ },
      });
      t.match(result.reason, /\(packet v2, no TLS\)/);
    },
  );

  t.test("the real daemon's response with one bit flipped in transit fails the CRC check", async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.corrupt}`, '--no-tls']);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: /^the response's CRC-32 does not match its content/ },
    });
  });

  t.test('a port nobody listens on gives closed', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.vacant}`]);
    t.match(result, { state: 'closed', verdict: 'fail', reason: /refused \(TCP reset\)/ });
    t.notOk(result.check);
  });

  t.test('a drop rule in front of a live daemon gives filtered at the deadline', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.drop}`, '--timeout', '1s']);
    t.match(result, {
      state: 'filtered',
      verdict: 'fail',
      attempts: 1,
      reason: /^no answer within 1 s \(1 attempt\): silently dropped/,
    });
  });

  t.test('an admin-prohibited reject in front of a live daemon gives prohibited and names the router', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.prohibited}`]);
    t.match(result, { state: 'prohibited', icmp: { type: 3, code: 13, from: ROUTER } });
    t.match(result.reason, /^rejected by 192\.0\.2\.1: ICMP admin-prohibited \(3\/13\)/);
  });
});
