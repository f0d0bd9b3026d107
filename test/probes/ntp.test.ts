import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { LAB, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { printed } from '../helpers/daemon.js';
import { IN_PROCESS, namespaceCli, probeJson, reachgate } from '../helpers/cli.js';
import { checkReply } from '../../probes/ntp.js';
import { ntpCodec, offsetAndDelay, parseReply, type NtpReply } from '../../src/net/ntp.js';
import { assertOpenThroughLoss } from '../helpers/loss.js';

// NTP against real chronyd servers in the lab, plus a test responder for what chrony 4.3 never sends
// (Kiss-o'-Death: it drops denied and rate-limited clients silently) and for a clock that is off.
const SERVER = LAB.server.v4;
const ROUTER = LAB.router.clientV4;
const PORT = {
  synced: 123,
  unsynced: 1123,
  drop: 1124,
  prohibited: 1125,
  lossy: 1126,
  vacant: 1199,
  deny: 2123,
  restrict: 2124,
  rate: 2125,
  rateThenTime: 2126,
  garbage: 2127,
  ahead: 2128,
};
const NTP_TO_UNIX_S = 2_208_988_800;

/** An NTP timestamp (seconds since 1900, 32.32 fixed point) for Unix milliseconds. */
function ntpTimestamp(unixMs: number): Buffer {
  const bytes = Buffer.alloc(8);
  const seconds = Math.floor(unixMs / 1000) + NTP_TO_UNIX_S;
  bytes.writeUInt32BE(seconds % 2 ** 32, 0);
  bytes.writeUInt32BE(Math.floor(((unixMs % 1000) / 1000) * 2 ** 32), 4);
  return bytes;
}

/** A server reply as RFC 5905 lays it out. */
function serverPacket(fields: {
  first?: number;
  stratum?: number;
  refid?: string | number[];
  originate: Buffer;
  receive?: Buffer;
  transmit?: Buffer;
}): Buffer {
  const packet = Buffer.alloc(48);
  packet[0] = fields.first ?? 0x24;
  packet[1] = fields.stratum ?? 2;
  packet.writeInt8(-20, 3);
  const refid = fields.refid ?? [192, 0, 2, 123];
  (typeof refid === 'string' ? Buffer.from(refid, 'latin1') : Buffer.from(refid)).copy(packet, 12);
  fields.originate.copy(packet, 24);
  fields.receive?.copy(packet, 32);
  fields.transmit?.copy(packet, 40);
  return packet;
}

t.test('a reply must be server mode, echo our transmit timestamp and carry a transmit time', async (t) => {
  const codec = ntpCodec();
  const request = codec.request(0);
  t.equal(request.length, 48);
  t.equal(request[0], 0x23, 'leap 0, version 4, mode 3 (client)');
  const nonce = request.subarray(40, 48);
  const now = ntpTimestamp(Date.now());
  t.ok(codec.accept(serverPacket({ originate: nonce, receive: now, transmit: now })), 'a proper reply');
  t.notOk(
    codec.accept(serverPacket({ originate: Buffer.alloc(8, 7), receive: now, transmit: now })),
    'another originate',
  );
  t.notOk(codec.accept(serverPacket({ first: 0x23, originate: nonce, receive: now, transmit: now })), 'client mode');
  t.notOk(codec.accept(serverPacket({ first: 0x3c, originate: nonce, receive: now, transmit: now })), 'version 7');
  t.notOk(codec.accept(serverPacket({ originate: nonce, receive: now })), 'a zero transmit timestamp');
  t.notOk(
    codec.accept(serverPacket({ originate: nonce, receive: now, transmit: now }).subarray(0, 47)),
    'a short packet',
  );
  t.notOk(codec.accept(Buffer.alloc(0)), 'an empty datagram');
  t.ok(
    codec.accept(serverPacket({ first: 0xe4, stratum: 0, refid: 'DENY', originate: nonce })),
    'a kiss needs no timestamps',
  );
  const second = codec.request(1).subarray(40, 48);
  t.notSame(second, nonce, 'each attempt has a fresh nonce');
  t.equal(
    codec.accept(serverPacket({ originate: second, receive: now, transmit: now }))?.attempt,
    1,
    'a reply answers the attempt whose nonce it echoes',
  );
});

t.test('offset and delay follow the RFC 5905 on-wire formulas', async (t) => {
  // Server 100 ms ahead, 10 ms each way, 1 ms inside the server.
  t.same(offsetAndDelay({ sentMs: 1000, receiveMs: 1110, transmitMs: 1111, arrivedMs: 1021 }), {
    offsetMs: 100,
    delayMs: 20,
  });
  t.same(offsetAndDelay({ sentMs: 1000, receiveMs: 950, transmitMs: 951, arrivedMs: 1003 }), {
    offsetMs: -51,
    delayMs: 2,
  });
});

t.test('timestamps with the high bit clear are read in NTP era 1 (after 2036)', async (t) => {
  const packet = serverPacket({
    originate: Buffer.alloc(8),
    receive: Buffer.from('0000000100000000', 'hex'),
    transmit: Buffer.from('0000000180000000', 'hex'),
  });
  const parsed = parseReply(packet);
  t.equal(new Date(parsed!.reply.receiveMs).toISOString(), '2036-02-07T06:28:17.000Z');
  t.equal(parsed!.reply.transmitMs - parsed!.reply.receiveMs, 500);
});

t.test('the check names a kiss, then unsynchronization, then an offset beyond --max-offset', async (t) => {
  const base: NtpReply = {
    leap: 0,
    version: 4,
    stratum: 2,
    precision: -20,
    rootDelayMs: 1,
    rootDispersionMs: 1,
    refid: Buffer.from([192, 0, 2, 1]),
    sentMs: 0,
    receiveMs: 700,
    transmitMs: 700,
    arrivedMs: 0,
  };
  t.match(checkReply({ ...base, stratum: 0, kiss: 'RSTR' }, {}), {
    ok: false,
    detail: /^Kiss-o'-Death RSTR: the server restricts/,
  });
  t.match(checkReply({ ...base, leap: 3 }, {}), {
    ok: false,
    detail: 'unsynchronized (leap 3, stratum 2): the server has no good time to give',
  });
  t.match(checkReply({ ...base, stratum: 16 }, {}), { ok: false, detail: /unsynchronized \(leap 0, stratum 16\)/ });
  t.match(checkReply({ ...base, stratum: 0, refid: Buffer.from('INIT') }, {}), {
    ok: false,
    detail: /unsynchronized \(leap 0, stratum 0\)/,
  });
  t.match(checkReply(base, { maxOffsetMs: 500 }), {
    ok: false,
    detail: 'offset +700 ms is beyond --max-offset 500 ms (stratum 2)',
  });
  t.match(checkReply(base, { maxOffsetMs: 1000 }), { ok: true, detail: 'stratum 2, offset +700 ms, delay 0.0 ms' });
});

t.test('bad ntp options exit 2 before anything is sent', async (t) => {
  // Loopback targets: even a probe that went out by mistake stays on this host.
  const cases: Array<[string[], RegExp]> = [
    [['--max-offset', 'abc'], /`--max-offset` option to be a duration like 2s or 500ms, got `abc`/],
    [['--max-offset', '0'], /`--max-offset` option to be more than 0 and at most 1h, got `0`/],
    [['--max-offset', '2h'], /`--max-offset` option to be a duration like 2s or 500ms, got `2h`/],
    [['--max-offset'], /Not enough arguments following: max-offset/],
  ];
  // The first through the binary; the rest run the same command code in-process (test/helpers/cli-in-process.ts).
  for (const [args, message] of cases) {
    const run = await reachgate(
      ['probe', 'ntp', '127.0.0.1', ...args],
      args === cases[0]![0] ? {} : { via: IN_PROCESS },
    );
    t.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
    t.equal(run.stdout, '');
  }
});

// Answers NTP requests on each PORT:MODE given: a kiss (DENY, RSTR, RATE), RATE then the time, the time
// 5 s ahead, or only garbage that must not count as an answer. Ends itself after 120 s.
const RESPONDER = `
const dgram = require('node:dgram');
const [address, ...plans] = process.argv.slice(1);
const stamp = (ms) => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(ms / 1000) + ${NTP_TO_UNIX_S}, 0);
  b.writeUInt32BE(Math.floor((ms % 1000) / 1000 * 2 ** 32), 4);
  return b;
};
const packet = (first, stratum, refid, request, ms) => {
  const p = Buffer.alloc(48); p[0] = first; p[1] = stratum; p.writeInt8(-20, 3); Buffer.from(refid).copy(p, 12);
  request.copy(p, 24, 40, 48);
  if (ms !== undefined) { stamp(ms).copy(p, 16); stamp(ms).copy(p, 32); stamp(ms).copy(p, 40); }
  return p;
};
const kiss = (code, request) => packet(0xe4, 0, Buffer.from(code), request);
const time = (request, aheadMs) => packet(0x24, 2, [192, 0, 2, 123], request, Date.now() + aheadMs);
let ready = 0;
for (const plan of plans) {
  const [port, mode] = plan.split(':');
  const socket = dgram.createSocket('udp4');
  let seen = 0;
  socket.on('message', (request, peer) => {
    const reply = (p) => socket.send(p, peer.port, peer.address);
    seen++;
    if (mode === 'DENY' || mode === 'RSTR' || mode === 'RATE') reply(kiss(mode, request));
    else if (mode === 'RATE-then-time') reply(seen === 1 ? kiss('RATE', request) : time(request, 0));
    else if (mode === 'ahead') reply(time(request, 5000));
    else if (mode === 'garbage') {
      reply(Buffer.from('not ntp'));
      const foreign = time(request, 0); foreign.fill(7, 24, 32); reply(foreign);
      const client = time(request, 0); client[0] = 0x23; reply(client);
      const untimed = time(request, 0); untimed.fill(0, 40, 48); reply(untimed);
    }
  });
  socket.bind(Number(port), address, () => { if (++ready === plans.length) console.log('ready'); });
}
setTimeout(() => process.exit(0), 120000);
`;

t.test('on real packets in the lab', async (t) => {
  if (needsLab(t)) return;
  const { lab, dir } = await filteredLab(t, 'ntp', {
    protocols: ['udp'],
    drop: [PORT.drop],
    prohibited: [PORT.prohibited],
    lossy: [PORT.lossy],
  });

  /** Start chronyd in the server namespace on `port`: with `local stratum 8` it serves its own clock, without it (and no sources) it is unsynchronized. */
  const chronyd = async (port: number, local: boolean): Promise<void> => {
    const conf = join(dir, `chrony-${port}.conf`);
    await writeFile(
      conf,
      [
        `port ${port}`,
        `bindaddress ${SERVER}`,
        'allow',
        ...(local ? ['local stratum 8'] : []),
        `driftfile ${join(dir, `drift-${port}`)}`,
        `pidfile ${join(dir, `chronyd-${port}.pid`)}`,
        // No command port and no Unix command socket: several chronyd run side by side, none touches /run/chrony.
        'cmdport 0',
        'bindcmdaddress /',
        '',
      ].join('\n'),
    );
    // -d: foreground, log to stderr; -x: never touch the system clock; -u root: keep the temp files readable.
    const child = await lab.spawn(lab.ns.server, 'chronyd', ['-d', '-x', '-u', 'root', '-f', conf]);
    // chronyd opens its NTP sockets just before this warning.
    await printed(child, 'Running with root privileges', `chronyd on port ${port}`);
  };
  await Promise.all([
    chronyd(PORT.synced, true),
    chronyd(PORT.unsynced, false),
    chronyd(PORT.drop, true),
    chronyd(PORT.prohibited, true),
    chronyd(PORT.lossy, true),
  ]);
  const plans = [
    [PORT.deny, 'DENY'],
    [PORT.restrict, 'RSTR'],
    [PORT.rate, 'RATE'],
    [PORT.rateThenTime, 'RATE-then-time'],
    [PORT.garbage, 'garbage'],
    [PORT.ahead, 'ahead'],
  ];
  const responder = await lab.spawn(lab.ns.server, process.execPath, [
    '-e',
    RESPONDER,
    SERVER,
    ...plans.map(([port, mode]) => `${port}:${mode}`),
  ]);
  await printed(responder, 'ready', 'the NTP test responder');

  const client = await namespaceCli(t, lab.ns.client);
  /** Probe from the client namespace and return the RunReport it printed. */
  const probe = (args: string[]) => probeJson('ntp', args, { via: client });

  t.test('a chronyd serving its local clock gives open, stratum 8, and a passing check', async (t) => {
    const { code, result } = await probe([SERVER]);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      check: { ok: true, detail: /^stratum 8, offset [+-]/ },
      target: { port: 123, protocol: 'udp' },
    });
    t.match(result.reason, /^NTP server answered in .* ms; stratum 8, offset /);
    t.match(result.evidence, {
      version: 4,
      leap: 0,
      stratum: 8,
      refid: '127.127.1.1',
      precision: Number,
      root_delay_ms: Number,
      root_dispersion_ms: Number,
    });
    const evidence = result.evidence as { offset_ms: number; delay_ms: number; server_time: string };
    // Both namespaces read the same kernel clock: the offset is measurement noise.
    t.ok(Math.abs(evidence.offset_ms) < 100, `offset ${evidence.offset_ms} ms`);
    t.ok(evidence.delay_ms < 1000, `delay ${evidence.delay_ms} ms`);
    t.ok(Math.abs(Date.parse(evidence.server_time) - Date.now()) < 60_000, `server time ${evidence.server_time}`);
  });

  t.test('a chronyd without reference or sources answers leap 3, stratum 0: open with a failed check', async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.unsynced}`]);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: 'unsynchronized (leap 3, stratum 0): the server has no good time to give' },
    });
    t.match(result.evidence, { leap: 3, stratum: 0 });
    t.match(result.reason, /^NTP server answered in .*, but unsynchronized/);
  });

  t.test('--max-offset passes a server within it and fails one 5 s ahead (a test responder)', async (t) => {
    const near = await probe([SERVER, '--max-offset', '500ms']);
    t.match(near.result, { state: 'open', verdict: 'pass' });
    const ahead = await probe([`${SERVER}:${PORT.ahead}`, '--max-offset', '500ms']);
    t.match(ahead.result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: /^offset \+5(\.0)? s is beyond --max-offset 500 ms \(stratum 2\)$/ },
    });
    t.ok(Math.abs((ahead.result.evidence as { offset_ms: number }).offset_ms - 5000) < 100);
    t.equal(ahead.code, 1);
  });

  t.test("a port nobody listens on gives closed by the server's ICMP port unreachable", async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.vacant}`]);
    t.equal(code, 1);
    t.match(result, { state: 'closed', verdict: 'fail', icmp: { type: 3, code: 3, from: SERVER } });
    t.notOk(result.check);
  });

  t.test('a drop rule in front of a live chronyd gives filtered after every attempt', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.drop}`, '--timeout', '1s']);
    t.match(result, { state: 'filtered', verdict: 'fail', attempts: 3 });
    t.match(result.reason, /^no answer within 1 s \(3 attempts\): silently dropped/);
  });

  t.test('an admin-prohibited reject gives prohibited and names the router', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.prohibited}`]);
    t.match(result, { state: 'prohibited', icmp: { type: 3, code: 13, from: ROUTER } });
    t.match(result.reason, /^rejected by 192\.0\.2\.1: ICMP admin-prohibited \(3\/13\)/);
    const blocked = await probe([`${SERVER}:${PORT.prohibited}`, '--expect', 'blocked']);
    t.match(blocked.result, { state: 'prohibited', verdict: 'pass' });
  });

  t.test(
    "a Kiss-o'-Death DENY or RSTR from a test responder (chrony 4.3 sends none) fails the check and ends the retries",
    async (t) => {
      for (const [port, code] of [
        [PORT.deny, 'DENY'],
        [PORT.restrict, 'RSTR'],
      ] as const) {
        const { result } = await probe([`${SERVER}:${port}`, '--attempts', '4', '--timeout', '2s']);
        t.match(
          result,
          {
            state: 'open',
            verdict: 'fail',
            attempts: 1,
            check: { ok: false, detail: new RegExp(`^Kiss-o'-Death ${code}: `) },
          },
          code,
        );
        t.match(result.evidence, { stratum: 0, kiss_code: code, refid: code });
        t.notOk((result.evidence as Record<string, unknown>).offset_ms, 'a kiss carries no time to measure');
      }
    },
  );

  t.test(
    "a Kiss-o'-Death RATE from a test responder keeps the retries going and is reported when nothing better comes",
    async (t) => {
      const { result } = await probe([`${SERVER}:${PORT.rate}`, '--timeout', '1s']);
      t.match(result, {
        state: 'open',
        verdict: 'fail',
        attempts: 3,
        check: { ok: false, detail: /^Kiss-o'-Death RATE: the server rate-limits this client/ },
      });
      t.match(result.reason, /^NTP server answered, but Kiss-o'-Death RATE/);
      const later = await probe([`${SERVER}:${PORT.rateThenTime}`]);
      t.match(later.result, { state: 'open', verdict: 'pass', evidence: { stratum: 2, refid: '192.0.2.123' } });
      t.ok(later.result.attempts >= 2, `answered on attempt ${later.result.attempts}`);
    },
  );

  t.test('replies that are not a valid answer to our request are ignored: filtered', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.garbage}`, '--timeout', '1s']);
    t.match(result, { state: 'filtered', attempts: 3 });
    // The garbage is not evidence; a silent result carries only how its silence was retried.
    t.same(
      Object.keys(result.evidence ?? {}).filter((key) => key !== 'silence'),
      [],
    );
  });

  t.test(
    'with 3 of every 10 requests dropped (30 % loss), 4 attempts find the server in every one of 20 probes',
    async (t) => {
      // nftables `numgen inc` drops requests 0-2 of every 10: never four in a row, so a fourth attempt always gets
      // through. (Random loss, where four losses in a row happen by chance, is measured in bench/, not asserted here.)
      const targets = Array.from({ length: 20 }, () => `${SERVER}:${PORT.lossy}`);
      const args = [...targets, '--attempts', '4', '--timeout', '2s', '--concurrency', '1'];
      const { report } = await probeJson('ntp', args, { via: client, timeoutMs: 90_000 });
      assertOpenThroughLoss(t, report, 20, 4);
    },
  );
});
