import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildMatrix } from '../../src/coordinator/matrix.js';
import { buildRecord } from '../../src/record/build.js';
import { canonicalJson } from '../../src/record/canonical.js';
import { keyId, loadPublicKey } from '../../src/record/keys.js';
import type { SignedRecord } from '../../src/record/model.js';
import { formatSignedRecord, signRecord, verifyRecordText } from '../../src/record/sign.js';
import { reachgate } from '../helpers/cli.js';
import { sampleReports } from './sample.js';

const dir = mkdtempSync(join(tmpdir(), 'reachgate-record-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const keyFile = join(dir, 'approver.key');
const created = await reachgate(['key', 'create', '--out', keyFile]);
const publicKey = loadPublicKey(`${keyFile}.pub`);

const reports = sampleReports();
const matrix = buildMatrix(
  reports.map((report) => ({ report, received_at: report.finished_at })),
  { now: new Date('2026-11-30T05:01:00.000Z') },
);
const record = buildRecord(
  matrix,
  reports.map((report) => ({ report, received_at: report.finished_at })),
  {
    approver: 'Jane Doe <jane@example.org>',
    change: 'CHG-1234',
    source: { kind: 'reports', files: ['ws-01.json', 'tg-01.json'] },
    now: new Date('2026-11-30T05:01:00.000Z'),
  },
);
const { createPrivateKey } = await import('node:crypto');
const signedText = formatSignedRecord(signRecord(record, createPrivateKey(readFileSync(keyFile))));

/** The signed record's text with `change` applied to its parsed form. */
function tampered(change: (signed: SignedRecord) => void): string {
  const signed = JSON.parse(signedText) as SignedRecord;
  change(signed);
  return formatSignedRecord(signed);
}

/** The problems verify names for a record text, checked with the approver's public key. */
function problemsOf(text: string): string[] {
  return verifyRecordText(text, publicKey).verification.problems.map((problem) => problem.message);
}

t.test('key create writes a private key of mode 600 and its public key, and keeps an existing file', async (t) => {
  t.equal(created.code, 0, created.stderr);
  t.equal(statSync(keyFile).mode & 0o777, 0o600, 'the private key is readable by its owner only');
  t.match(created.stdout, new RegExp(`^key id ${keyId(publicKey)}\n-----BEGIN PUBLIC KEY-----`));
  const before = readFileSync(keyFile, 'utf8');
  const again = await reachgate(['key', 'create', '--out', keyFile]);
  t.equal(again.code, 2, 'an existing key is a usage error');
  t.match(again.stderr, /exists already; nothing was written/);
  t.equal(readFileSync(keyFile, 'utf8'), before, 'the key is untouched');
});

t.test('the untouched record verifies, and names its key id and digest', async (t) => {
  const { verification } = verifyRecordText(signedText, publicKey);
  t.same(verification.problems, []);
  t.equal(verification.ok, true);
  t.equal(verification.key_id, keyId(publicKey));
  t.equal(verification.agents, 2);
  t.equal(verification.results, 4);
  t.match(verification.short_digest, /^[0-9a-f]{4}(-[0-9a-f]{4}){5}$/);
  const { verification: carried } = verifyRecordText(signedText);
  t.equal(carried.ok, true, 'without --key it checks with the key the record carries');
  t.equal(carried.key_from, 'record');
});

t.test('the record holds agents, controls, overlaps and the not-proven entries', async (t) => {
  const signed = JSON.parse(signedText) as SignedRecord;
  t.same(
    signed.record.agents.map((agent) => [agent.name, agent.host, agent.edition, agent.profile?.sha256.slice(0, 2)]),
    [
      ['tg-01', 'tg-01.hq.example', 'standard', 'a1'],
      ['ws-01', 'ws-01.hq.example', 'standard', 'b2'],
    ],
  );
  t.same(
    signed.record.controls.map((control) => [control.target, control.met, control.results, control.seen_by]),
    [
      ['203.0.113.80:443/tcp', 1, 1, ['tg-01']],
      ['203.0.113.99:443/tcp', 0, 1, []],
    ],
  );
  t.equal(signed.record.verdict, 'inconclusive', 'a block nobody of the control role could reach proves nothing');
  t.equal(signed.record.agents[1]!.not_proven.length, 1);
  t.equal(signed.record.agents[1]!.overlaps.length, 1);
  t.equal(
    signed.record.agents[1]!.report.sha256,
    (await import('node:crypto')).createHash('sha256').update(canonicalJson(reports[0])).digest('hex'),
    'the report digest is the SHA-256 of the report as the agent wrote it',
  );
});

t.test('one changed byte of a result names that result of that agent', async (t) => {
  // One byte in the file: "0.4 ms" of ws-01's second result becomes "0.5 ms".
  const at = signedText.indexOf('ICMP admin-prohibited after 0.4 ms');
  t.ok(at > 0);
  const text = signedText.slice(0, at + 30) + '5' + signedText.slice(at + 31);
  t.equal(text.length, signedText.length);
  t.same(problemsOf(text), ['result 2 of agent ws-01 (row no-direct-internet): differs from what was signed']);
});

t.test('a changed profile digest is named, in the profile list and in the agent', async (t) => {
  t.same(
    problemsOf(
      tampered((signed) => {
        signed.record.profiles[0]!.sha256 = `f${signed.record.profiles[0]!.sha256.slice(1)}`;
      }),
    ),
    ['profile digests: differs from what was signed'],
  );
  t.same(
    problemsOf(
      tampered((signed) => {
        signed.record.agents[0]!.profile!.sha256 = 'f'.repeat(64);
      }),
    ),
    ['profile digest of agent tg-01: differs from what was signed'],
  );
});

t.test('a changed approver or change reference is named', async (t) => {
  t.same(
    problemsOf(
      tampered((signed) => {
        signed.record.approver = 'Mallory';
      }),
    ),
    ['approver: differs from what was signed'],
  );
  t.same(
    problemsOf(
      tampered((signed) => {
        signed.record.change = 'CHG-9999';
        signed.record.agents.pop();
      }),
    ),
    ['change reference: differs from what was signed', 'agents: the record has 1, the signed record 2'],
  );
});

t.test('a changed signature, or signed digests swapped in, fail the signature', async (t) => {
  const signed = JSON.parse(signedText) as SignedRecord;
  const byte = signed.jws.signature[10] === 'A' ? 'B' : 'A';
  t.same(
    problemsOf(
      tampered((copy) => {
        copy.jws.signature = `${signed.jws.signature.slice(0, 10)}${byte}${signed.jws.signature.slice(11)}`;
      }),
    ),
    ['signature: it does not verify over the signed digests (the signature or the digests were changed)'],
  );
  // A forger who changes a result and recomputes the digests cannot sign them.
  const forged = tampered((copy) => {
    copy.record.agents[1]!.results[0]!.reason = 'forged';
    const digests = JSON.parse(Buffer.from(copy.jws.payload, 'base64url').toString()) as {
      agents: Array<{ results: string[] }>;
    };
    const again = JSON.parse(
      Buffer.from(
        signRecord(copy.record, generateKeyPairSync('ed25519').privateKey).jws.payload,
        'base64url',
      ).toString(),
    ) as typeof digests;
    digests.agents[1]!.results[0] = again.agents[1]!.results[0]!;
    copy.jws.payload = Buffer.from(canonicalJson(digests)).toString('base64url');
  });
  t.same(problemsOf(forged), [
    'signature: it does not verify over the signed digests (the signature or the digests were changed)',
  ]);
});

t.test('a record re-signed with another key is named as the wrong key', async (t) => {
  const other = generateKeyPairSync('ed25519').privateKey;
  const resigned = formatSignedRecord(
    signRecord({ ...(JSON.parse(signedText) as SignedRecord).record, approver: 'Mallory' }, other),
  );
  t.same(problemsOf(resigned), [
    `wrong key: the record was signed by key ${keyId(other)}, not by the given key ${keyId(publicKey)}`,
  ]);
  const alone = verifyRecordText(resigned).verification;
  t.equal(alone.ok, true, 'without --key it holds together ...');
  t.equal(alone.key_id, keyId(other), '... and shows the other key id for the auditor to compare');
});

t.test('digests of any shape, signed by their own key, give problems and never a crash', async (t) => {
  const { privateKey: other } = generateKeyPairSync('ed25519');
  const { protected: header } = signRecord(record, other).jws;
  for (const payload of [
    null,
    [],
    { typ: 'reachgate-acceptance-record-digests', parts: null },
    {
      typ: 'reachgate-acceptance-record-digests',
      parts: {},
      agents: [null, { name: 7, members: [], results: 'x' }],
    },
  ]) {
    const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const signature = (await import('node:crypto'))
      .sign(null, Buffer.from(`${header}.${encoded}`), other)
      .toString('base64url');
    const text = tampered((signed) => {
      signed.jws = { protected: header, payload: encoded, signature };
    });
    const { verification } = verifyRecordText(text);
    t.equal(verification.ok, false, JSON.stringify(payload));
    t.ok(verification.problems.length > 0);
  }
  const { verification } = verifyRecordText(
    tampered((signed) => {
      signed.jws.protected = Buffer.from('null').toString('base64url');
    }),
  );
  t.match(verification.problems[0]!.message, /^signature header: not a JWS header with alg EdDSA/);
});

t.test('verify exits 0 on the record, 1 naming each mismatch, 2 on what is not a record', async (t) => {
  const good = join(dir, 'good.json');
  const bad = join(dir, 'bad.json');
  const notRecord = join(dir, 'not-record.json');
  writeFileSync(good, signedText);
  writeFileSync(
    bad,
    tampered((signed) => {
      signed.record.approver = 'Mallory';
      signed.record.agents[1]!.results[2]!.verdict = 'pass';
    }),
  );
  writeFileSync(notRecord, '{"matrix": []}');
  const ok = await reachgate(['verify', good, '--key', `${keyFile}.pub`]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, new RegExp(`key id +${keyId(publicKey)} \\(the key given with --key\\)`));
  t.match(ok.stdout, /verified +the signature and every digest hold/);
  const failed = await reachgate(['verify', bad, '--key', `${keyFile}.pub`]);
  t.equal(failed.code, 1);
  t.match(failed.stdout, /MISMATCH +approver: differs from what was signed\n/);
  t.match(
    failed.stdout,
    /MISMATCH +result 3 of agent ws-01 \(row no-direct-internet\): differs from what was signed\n/,
  );
  const unsigned = await reachgate(['accept', '--reports', good, '--change', 'CHG-1', '--key', keyFile, '--out', bad]);
  t.equal(unsigned.code, 2, 'accept without --approver is a usage error');
  t.match(unsigned.stderr, /Missing required argument: approver/);
  for (const args of [[notRecord], [join(dir, 'missing.json')], [good, '--key', keyFile + '.missing']]) {
    const run = await reachgate(['verify', ...args]);
    t.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    t.match(run.stderr, /^reachgate: (not an acceptance record|cannot read the (record|key file))/);
  }
});

t.test('RFC 8785 ordering and number forms', async (t) => {
  t.equal(
    canonicalJson({ b: [1e21, 1.5e-7, -0, 'é'], a: { '\u20ac': 1, '\r': 2, '1': 3 }, c: undefined }),
    '{"a":{"\\r":2,"1":3,"€":1},"b":[1e+21,1.5e-7,0,"é"]}',
  );
  t.throws(() => canonicalJson({ n: Number.NaN }), /cannot hold the number NaN/);
});
