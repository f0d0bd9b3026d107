// Benchmark: sign and verify an acceptance record of 5,000 agents x 40 rows, beside openssl over the same bytes.
//
// 5,000 RunReport files (40 TCP results each, a third of them negative probes with a control) are written to a temp
// dir. reachgate side: `reachgate accept --reports <5,000 files>` (read, judge, build, digest, sign, write) and
// `reachgate verify RECORD --key PUB` (read, parse, check every digest and the signature), as processes; and, in this
// process, the signing alone (RFC 8785 digests of every part + one Ed25519 JWS) and the verification alone on the
// parsed text. Peer: `openssl dgst -sha256` over the record file's bytes, and `openssl pkeyutl -sign -rawin` /
// `-verify` with an Ed25519 key over the same bytes (one signature over the whole file, no per-part digests).
// No network at all.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUILD_ROOT, REACHGATE, median, row, rotate, timed } from './lib/measure.mjs';

const AGENTS = Number(process.env.REACHGATE_BENCH_RECORD_AGENTS ?? 5000);
const ROWS = 40;

export const title = `Acceptance record: sign and verify ${AGENTS.toLocaleString('en')} agents x ${ROWS} rows, beside openssl`;

const dist = (path) => import(pathToFileURL(join(BUILD_ROOT, 'dist', 'src', path)).href);

/** One agent's 40-result report, as `reachgate run --format json` writes it. */
function report(index, finished) {
  const agent = `ws-${String(index).padStart(5, '0')}`;
  const started = new Date(finished.getTime() - 4000).toISOString();
  const results = Array.from({ length: ROWS }, (_, n) => {
    const blocked = n % 3 === 2;
    return {
      id: `row-${n}/198.51.100.${n % 250}:${5900 + n}`,
      row: `row-${n}`,
      kind: 'tcp',
      target: { host: `host-${n}`, address: `198.51.100.${n % 250}`, port: 5900 + n, protocol: 'tcp' },
      expect: blocked ? 'blocked' : 'reachable',
      state: blocked ? 'filtered' : 'open',
      verdict: 'pass',
      reason: blocked ? 'no answer within 1 s (2 attempts): silently dropped' : 'connected in 0.4 ms',
      ...(blocked ? { control: 'tightgate' } : { rtt_ms: 0.4, evidence: { banner: 'RFB 003.008' } }),
      attempts: blocked ? 2 : 1,
      started_at: started,
    };
  });
  return {
    id: `report-${agent}`,
    agent,
    role: 'workstation',
    site: 'bench',
    profile: { name: 'tightgate/workstation', hash: 'ab'.repeat(32) },
    version: '0.1.0',
    started_at: started,
    finished_at: finished.toISOString(),
    results,
    summary: { pass: ROWS, fail: 0, inconclusive: 0, error: 0 },
    site_hash: 'cd'.repeat(32),
    edition: 'standard',
    host: `${agent}.bench.example`,
    overlaps: [],
    not_proven: [{ row: 'syslog', text: 'needs a responder' }],
  };
}

function loadAverage() {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' / ');
}

export default async function run({ reps = 3 } = {}) {
  const dir = mkdtempSync(join(os.tmpdir(), 'reachgate-bench-record-'));
  const loadAtStart = loadAverage();
  try {
    const finished = new Date();
    const files = [];
    for (let index = 0; index < AGENTS; index++) {
      const file = join(dir, `r${index}.json`);
      writeFileSync(file, JSON.stringify(report(index, finished)));
      files.push(file);
    }
    const key = join(dir, 'approver.key');
    const created = await timed([process.execPath, REACHGATE, 'key', 'create', '--out', key]);
    if (created.code !== 0) throw new Error(`key create: ${created.stderr}`);
    const record = join(dir, 'record.json');
    const accept = [
      process.execPath,
      REACHGATE,
      'accept',
      '--reports',
      ...files,
      '--approver',
      'Bench Approver',
      '--change',
      'CHG-BENCH',
      '--key',
      key,
      '--out',
      record,
    ];
    const signature = join(dir, 'record.sig');
    const [acceptRuns, verifyRuns, dgstRuns, signRuns, osslVerifyRuns] = await rotate(reps, [
      () => timed(accept, { timeoutMs: 600_000, keepStdout: false }),
      () => timed([process.execPath, REACHGATE, 'verify', record, '--key', `${key}.pub`], { timeoutMs: 600_000 }),
      () => timed(['openssl', 'dgst', '-sha256', record], { timeoutMs: 600_000 }),
      () =>
        timed(['openssl', 'pkeyutl', '-sign', '-rawin', '-inkey', key, '-in', record, '-out', signature], {
          timeoutMs: 600_000,
        }),
      () =>
        timed(
          [
            'openssl',
            'pkeyutl',
            '-verify',
            '-rawin',
            '-pubin',
            '-inkey',
            `${key}.pub`,
            '-in',
            record,
            '-sigfile',
            signature,
          ],
          { timeoutMs: 600_000 },
        ),
    ]);
    // accept exits 1: a third of the rows are blocked probes whose control role (tightgate) has no agent here.
    const wrong = [
      ...acceptRuns.filter((r) => r.code !== 1).map((r) => `accept exit ${r.code}: ${r.stderr.slice(0, 200)}`),
      ...verifyRuns.filter((r) => r.code !== 0).map((r) => `verify exit ${r.code}: ${r.stdout.slice(-300)}`),
      ...osslVerifyRuns.filter((r) => r.code !== 0 && r.code !== null).map((r) => `openssl verify exit ${r.code}`),
    ];
    // In this process: the signing and the verification alone, without reading reports or files.
    const { signRecord, verifyRecordText, recordDigests } = await dist('record/sign.js');
    const text = readFileSync(record, 'utf8');
    const signed = JSON.parse(text);
    const privateKey = createPrivateKey(readFileSync(key));
    const publicKey = createPublicKey(readFileSync(`${key}.pub`));
    const inSign = [];
    const inDigests = [];
    const inVerify = [];
    // CPU time (user + system) of this process: on a shared machine its wall time measures the neighbours.
    const cpuMs = (since) => {
      const used = process.cpuUsage(since);
      return (used.user + used.system) / 1000;
    };
    for (let i = 0; i < reps; i++) {
      let t0 = process.cpuUsage();
      recordDigests(signed.record);
      inDigests.push(cpuMs(t0));
      t0 = process.cpuUsage();
      signRecord(signed.record, privateKey);
      inSign.push(cpuMs(t0));
      t0 = process.cpuUsage();
      const { verification } = verifyRecordText(text, publicKey);
      inVerify.push(cpuMs(t0));
      if (!verification.ok) wrong.push(`in-process verify: ${verification.problems[0]?.message}`);
    }
    const bytes = statSync(record).size;
    const payloadBytes = signed.jws.payload.length;
    const shortDigest = execFileSync(process.execPath, [REACHGATE, 'verify', record, '--key', `${key}.pub`], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    }).match(/short +(\S+)/)?.[1];
    const wall = (runs) => median(runs.map((r) => r.wallMs));
    const cpu = (runs) => median(runs.map((r) => r.cpuMs));
    const rows = [
      row({
        metric: 'verify, whole command (wall)',
        unit: 'ms',
        reachgate: wall(verifyRuns),
        peer: wall(osslVerifyRuns),
        invalid: wrong[0],
      }),
      row({
        metric: 'verify, whole command (CPU user+sys)',
        unit: 'ms',
        reachgate: cpu(verifyRuns),
        peer: cpu(osslVerifyRuns),
      }),
      row({
        metric: `sign: accept from ${AGENTS} report files, whole command (wall) vs openssl pkeyutl -sign`,
        unit: 'ms',
        reachgate: wall(acceptRuns),
        peer: wall(signRuns),
      }),
      row({
        metric: 'sign: accept, whole command (CPU user+sys)',
        unit: 'ms',
        reachgate: cpu(acceptRuns),
        peer: cpu(signRuns),
      }),
      row({
        metric: 'digests of every part + Ed25519 JWS, in process (CPU), vs openssl dgst -sha256 of the file (CPU)',
        unit: 'ms',
        reachgate: median(inSign),
        peer: cpu(dgstRuns),
      }),
      row({
        metric:
          'verification alone (parse + every digest + signature), in process (CPU), vs openssl dgst -sha256 (CPU)',
        unit: 'ms',
        reachgate: median(inVerify),
        peer: cpu(dgstRuns),
      }),
      row({ metric: 'record file size', unit: 'MiB', reachgate: bytes / 1048576 }),
      row({
        metric: 'signed payload (digests of every part, base64url)',
        unit: 'MiB',
        reachgate: payloadBytes / 1048576,
      }),
      row({ metric: 'verify peak RSS', unit: 'MiB', reachgate: median(verifyRuns.map((r) => r.maxRssKiB)) / 1024 }),
      row({ metric: 'accept peak RSS', unit: 'MiB', reachgate: median(acceptRuns.map((r) => r.maxRssKiB)) / 1024 }),
    ];
    return {
      title,
      setup:
        `${AGENTS} RunReport files of ${ROWS} TCP results each (a third blocked probes naming a control) in a temp dir; ` +
        `the record made from them by \`reachgate accept\`; the peers read the same record file. ${reps} runs per side, ` +
        `rotated; medians. Load average (1/5/15 min) at start ${loadAtStart}, at end ${loadAverage()}.`,
      commands: {
        reachgate: `node bin/reachgate accept --reports <${AGENTS} files> ... --out record.json; node bin/reachgate verify record.json --key approver.key.pub`,
        peer: 'openssl pkeyutl -sign|-verify -rawin (Ed25519) and openssl dgst -sha256 over record.json',
      },
      peer: 'openssl',
      rows,
      samples: {
        'accept wall ms': acceptRuns.map((r) => r.wallMs),
        'verify wall ms': verifyRuns.map((r) => r.wallMs),
        'openssl dgst wall ms': dgstRuns.map((r) => r.wallMs),
        'openssl pkeyutl -sign wall ms': signRuns.map((r) => r.wallMs),
        'openssl pkeyutl -verify wall ms': osslVerifyRuns.map((r) => r.wallMs),
        'openssl dgst CPU ms': dgstRuns.map((r) => r.cpuMs),
        'in-process digests only CPU ms': inDigests,
        'in-process sign CPU ms': inSign,
        'in-process verify CPU ms': inVerify,
      },
      notes: [
        `Record: ${(bytes / 1048576).toFixed(1)} MiB (${bytes} bytes, 2-space indented JSON), ${AGENTS * ROWS} results; ` +
          `short digest of the last record ${shortDigest}.`,
        'openssl signs the file as one message; reachgate signs the RFC 8785 digest of every part (each result, each ' +
          'agent member, each top-level part), so that verify can name what changed; that costs canonicalising and ' +
          'hashing every part.',
        ...(wrong.length ? [`Problems: ${wrong.join('; ')}`] : []),
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
