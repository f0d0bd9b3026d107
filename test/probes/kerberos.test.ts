import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { LAB, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { printed } from '../helpers/daemon.js';
import { IN_PROCESS, namespaceCli, probeJson, reachgate } from '../helpers/cli.js';
import { decodeKdcReply, encodeAsRequest, errorName } from '../../src/net/kerberos.js';

// Kerberos against a real MIT krb5kdc (Debian's krb5-kdc) serving the test realm LAB.TEST.
const SERVER = LAB.server.v4;
const ROUTER = LAB.router.clientV4;
const REALM = 'LAB.TEST';
const PORT = { kdc: 88, drop: 1088, prohibited: 2088, wrongRealm: 3088, garbage: 3089, vacant: 89 };

t.test('an AS-REQ is application 10 with pvno 5, msg-type 10, our realm, krbtgt/REALM and the nonce', async (t) => {
  const request = encodeAsRequest({
    cname: ['reachgate-probe'],
    realm: REALM,
    nonce: 0x12345678,
    etypes: [18, 17],
    till: new Date('2030-01-02T03:04:05Z'),
  });
  t.equal(request[0], 0x6a, '[APPLICATION 10]');
  const text = request.toString('latin1');
  t.match(text, /\xa1\x03\x02\x01\x05/, 'pvno [1] INTEGER 5');
  t.match(text, /\xa2\x03\x02\x01\x0a/, 'msg-type [2] INTEGER 10');
  t.match(text, /\x1b\x08LAB\.TEST/, 'realm as GeneralString');
  t.match(text, /\x1b\x06krbtgt\x1b\x08LAB\.TEST/, 'sname krbtgt/LAB.TEST');
  t.match(text, /\x02\x04\x12\x34\x56\x78/, 'nonce');
  t.match(text, /20300102030405Z/, 'till as KerberosTime');
  t.equal(
    request.length,
    request[1]! & 0x80 ? 2 + (request[1]! & 0x7f) + request.readUIntBE(2, request[1]! & 0x7f) : 2 + request[1]!,
    'the outer length covers the message exactly',
  );
});

t.test('anything but a well-formed KRB-ERROR or AS-REP decodes to nothing', async (t) => {
  t.equal(decodeKdcReply(Buffer.from('not kerberos')), undefined);
  t.equal(decodeKdcReply(Buffer.alloc(0)), undefined);
  t.equal(decodeKdcReply(Buffer.from('7e03300100', 'hex')), undefined, 'a KRB-ERROR without its fields');
  const request = encodeAsRequest({ cname: ['x'], realm: REALM, nonce: 1, etypes: [18], till: new Date() });
  t.equal(decodeKdcReply(request), undefined, 'our own AS-REQ echoed back');
  t.equal(errorName(25), 'KDC_ERR_PREAUTH_REQUIRED');
  t.equal(errorName(999), 'error 999');
});

t.test('bad kerberos options exit 2 before anything is sent', async (t) => {
  // Loopback targets: even a probe that went out by mistake stays on this host.
  const cases: Array<[string[], RegExp]> = [
    [[], /The kerberos probe needs `--realm`: the realm the KDC serves[\s\S]*--realm EXAMPLE\.ORG/],
    [['--realm', 'LAB TEST'], /`--realm` option to be a realm name like EXAMPLE\.ORG .*got `LAB TEST`/],
    [['--realm', 'a@b'], /`--realm` option to be a realm name/],
    [
      ['--realm', REALM, '--principal', 'user@LAB.TEST'],
      /`--principal` option to be a principal name like user or service\/host, without @REALM, got `user@LAB\.TEST`[\s\S]*--realm/,
    ],
    [['--realm', REALM, '--principal', 'host//x'], /`--principal` option to be a principal name/],
    [['--realm'], /Not enough arguments following: realm/],
  ];
  // The first through the binary; the rest run the same command code in-process (test/helpers/cli-in-process.ts).
  for (const [args, message] of cases) {
    const run = await reachgate(
      ['probe', 'kerberos', '127.0.0.1', ...args],
      args === cases[0]![0] ? {} : { via: IN_PROCESS },
    );
    t.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
    t.equal(run.stdout, '');
  }
});

// In front of the real KDC: forwards each datagram to it and passes the reply back, with MIT's error
// code rewritten to 68 (KDC_ERR_WRONG_REALM, which MIT never sends), or spoilt so it is no answer.
const REWRITER = `
const dgram = require('node:dgram');
const [address, kdcPort, ...plans] = process.argv.slice(1);
let ready = 0;
for (const plan of plans) {
  const [port, mode] = plan.split(':');
  const socket = dgram.createSocket('udp4');
  socket.on('message', (request, peer) => {
    const upstream = dgram.createSocket('udp4');
    const done = setTimeout(() => upstream.close(), 2000);
    upstream.on('message', (reply) => {
      clearTimeout(done);
      upstream.close();
      if (mode === 'wrong-realm') {
        // error-code [6] INTEGER: a6 03 02 01 NN
        const at = reply.indexOf(Buffer.from('a603020106', 'hex'));
        if (at >= 0) reply[at + 4] = 68;
        socket.send(reply, peer.port, peer.address);
      } else {
        socket.send(Buffer.from('not kerberos'), peer.port, peer.address);
        socket.send(reply.subarray(0, reply.length - 1), peer.port, peer.address);
        socket.send(Buffer.concat([reply, Buffer.from([0])]), peer.port, peer.address);
      }
    });
    upstream.send(request, Number(kdcPort), '127.0.0.1');
  });
  socket.bind(Number(port), address, () => { if (++ready === plans.length) console.log('ready'); });
}
setTimeout(() => process.exit(0), 120000);
`;

t.test('against a real MIT KDC in the lab', async (t) => {
  if (needsLab(t)) return;
  const { lab, dir } = await filteredLab(t, 'krb', {
    protocols: ['udp', 'tcp'],
    drop: [PORT.drop],
    prohibited: [PORT.prohibited],
  });

  const env = { KRB5_CONFIG: join(dir, 'krb5.conf'), KRB5_KDC_PROFILE: join(dir, 'kdc.conf') };
  await writeFile(env.KRB5_CONFIG, `[libdefaults]\n default_realm = ${REALM}\n dns_lookup_kdc = false\n`);
  // The KDC answers on three ports, so the drop and reject rules stand in front of a live KDC.
  const ports = [PORT.kdc, PORT.drop, PORT.prohibited].join(', ');
  await writeFile(
    env.KRB5_KDC_PROFILE,
    [
      '[kdcdefaults]',
      ` kdc_listen = ${ports}`,
      ` kdc_tcp_listen = ${ports}`,
      '[realms]',
      ` ${REALM} = {`,
      `  database_name = ${join(dir, 'principal')}`,
      `  key_stash_file = ${join(dir, 'stash')}`,
      `  acl_file = ${join(dir, 'kadm5.acl')}`,
      '  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal',
      ' }',
      '[logging]',
      ' kdc = STDERR',
      '',
    ].join('\n'),
  );
  const admin = async (cmd: string, args: string[]): Promise<void> => {
    const run = await lab.exec(lab.ns.server, cmd, args, { env });
    if (run.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${run.stderr}`);
  };
  await admin('kdb5_util', ['create', '-s', '-r', REALM, '-P', 'lab-master-password', '-d', join(dir, 'principal')]);
  await admin('kadmin.local', ['-r', REALM, '-d', join(dir, 'principal'), '-q', 'addprinc -pw x known-user']);
  await admin('kadmin.local', [
    '-r',
    REALM,
    '-d',
    join(dir, 'principal'),
    '-q',
    'addprinc -pw x +requires_preauth preauth-user',
  ]);
  const kdc = await lab.spawn(lab.ns.server, 'krb5kdc', ['-n', '-r', REALM], { env });
  await printed(kdc, 'commencing operation', 'krb5kdc');
  const rewriter = await lab.spawn(lab.ns.server, process.execPath, [
    '-e',
    REWRITER,
    SERVER,
    String(PORT.kdc),
    `${PORT.wrongRealm}:wrong-realm`,
    `${PORT.garbage}:garbage`,
  ]);
  await printed(rewriter, 'ready', 'the reply rewriter');

  const client = await namespaceCli(t, lab.ns.client);
  /** Probe from the client namespace and return the RunReport it printed. */
  const probe = (args: string[]) => probeJson('kerberos', args, { via: client });

  for (const transport of ['udp', 'tcp'] as const) {
    t.test(
      `over ${transport}, the made-up principal draws KRB-ERROR C_PRINCIPAL_UNKNOWN: open, the KDC answered`,
      async (t) => {
        const { code, result } = await probe([SERVER, '--realm', REALM, ...(transport === 'tcp' ? ['--tcp'] : [])]);
        t.equal(code, 0);
        t.match(result, {
          state: 'open',
          verdict: 'pass',
          check: { ok: true },
          target: { port: 88, protocol: transport },
        });
        t.match(result.evidence, {
          message: 'KRB-ERROR',
          transport,
          error_code: 6,
          error_name: 'KDC_ERR_C_PRINCIPAL_UNKNOWN',
          realm: REALM,
          principal: `reachgate-probe@${REALM}`,
        });
        t.ok(
          Math.abs(Date.parse((result.evidence as { server_time: string }).server_time) - Date.now()) < 60_000,
          "the KDC's clock",
        );
        t.match(
          result.reason,
          /^KDC answered in .* ms; KRB-ERROR 6 KDC_ERR_C_PRINCIPAL_UNKNOWN for reachgate-probe@LAB\.TEST \(as expected: reachgate-probe is made up\)$/,
        );
      },
    );
  }

  t.test('a principal that needs pre-authentication draws KDC_ERR_PREAUTH_REQUIRED', async (t) => {
    const { result } = await probe([SERVER, '--realm', REALM, '--principal', 'preauth-user']);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      evidence: { error_code: 25, error_name: 'KDC_ERR_PREAUTH_REQUIRED' },
    });
    t.match(result.reason, /the principal exists and needs pre-authentication/);
  });

  t.test('a principal without pre-authentication draws an AS-REP, accepted on its cleartext names', async (t) => {
    for (const extra of [[], ['--tcp']]) {
      const { result } = await probe([SERVER, '--realm', REALM, '--principal', 'known-user', ...extra]);
      t.match(result, {
        state: 'open',
        verdict: 'pass',
        evidence: { message: 'AS-REP', realm: REALM, ticket_service: `krbtgt/${REALM}@${REALM}` },
      });
      t.match(result.reason, /AS-REP: it issued a ticket for known-user@LAB\.TEST without pre-authentication/);
    }
  });

  t.test(
    'a realm the KDC does not serve, for a principal that must exist, is a failed check naming the realm',
    async (t) => {
      // MIT's single-realm KDC looks every name up in its one database: known-user@OTHER.TEST is "unknown".
      const { code, result } = await probe([
        SERVER,
        '--realm',
        'OTHER.TEST',
        '--principal',
        'known-user',
        '--expect-known-principal',
      ]);
      t.equal(code, 1);
      t.match(result, {
        state: 'open',
        verdict: 'fail',
        check: { ok: false },
        evidence: { error_code: 6, realm: 'OTHER.TEST' },
      });
      t.match(
        result.check!.detail,
        /^KRB-ERROR 6 KDC_ERR_C_PRINCIPAL_UNKNOWN: the KDC does not know known-user@OTHER\.TEST: the realm is wrong or the principal does not exist$/,
      );
      const existing = await probe([SERVER, '--realm', REALM, '--principal', 'known-user', '--expect-known-principal']);
      t.match(existing.result, { state: 'open', verdict: 'pass' });
    },
  );

  t.test(
    "KDC_ERR_WRONG_REALM (the real KDC's reply with its error code rewritten to 68) is a failed check naming the realm",
    async (t) => {
      const { code, result } = await probe([`${SERVER}:${PORT.wrongRealm}`, '--realm', REALM]);
      t.equal(code, 1);
      t.match(result, {
        state: 'open',
        verdict: 'fail',
        evidence: { error_code: 68, error_name: 'KDC_ERR_WRONG_REALM' },
      });
      t.match(
        result.reason,
        /^KDC answered in .*, but KRB-ERROR 68 KDC_ERR_WRONG_REALM: the KDC does not serve realm LAB\.TEST$/,
      );
    },
  );

  t.test('replies that are not a whole Kerberos message are ignored: filtered', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.garbage}`, '--realm', REALM, '--timeout', '1s']);
    t.match(result, { state: 'filtered', attempts: 3 });
    // The garbage is not evidence; a silent result carries only how its silence was retried.
    t.same(
      Object.keys(result.evidence ?? {}).filter((key) => key !== 'silence'),
      [],
    );
  });

  t.test('a port nobody listens on gives closed: ICMP port unreachable over UDP, a reset over TCP', async (t) => {
    const udp = await probe([`${SERVER}:${PORT.vacant}`, '--realm', REALM]);
    t.match(udp.result, { state: 'closed', verdict: 'fail', icmp: { type: 3, code: 3, from: SERVER } });
    t.notOk(udp.result.check);
    const tcp = await probe([`${SERVER}:${PORT.vacant}`, '--realm', REALM, '--tcp']);
    t.match(tcp.result, { state: 'closed', target: { protocol: 'tcp' }, reason: /refused \(TCP reset\)/ });
  });

  t.test('a drop rule in front of the live KDC gives filtered after every attempt', async (t) => {
    const udp = await probe([`${SERVER}:${PORT.drop}`, '--realm', REALM, '--timeout', '1s']);
    t.match(udp.result, {
      state: 'filtered',
      verdict: 'fail',
      attempts: 3,
      reason: /^no answer within 1 s \(3 attempts\): silently dropped/,
    });
    const tcp = await probe([`${SERVER}:${PORT.drop}`, '--realm', REALM, '--tcp', '--timeout', '1s']);
    t.match(tcp.result, { state: 'filtered', attempts: 1, target: { protocol: 'tcp' } });
  });

  t.test('an admin-prohibited reject in front of the live KDC gives prohibited and names the router', async (t) => {
    for (const extra of [[], ['--tcp']]) {
      const { result } = await probe([`${SERVER}:${PORT.prohibited}`, '--realm', REALM, ...extra]);
      t.match(result, { state: 'prohibited', icmp: { type: 3, code: 13, from: ROUTER } });
      t.match(result.reason, /^rejected by 192\.0\.2\.1: ICMP admin-prohibited \(3\/13\)/);
    }
    const blocked = await probe([`${SERVER}:${PORT.prohibited}`, '--realm', REALM, '--expect', 'blocked']);
    t.match(blocked.result, { verdict: 'pass' });
  });
});
