import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../src/record/canonical.js';
import type { SignedRecord } from '../../src/record/model.js';
import { loadPublicKey } from '../../src/record/keys.js';
import { verifyRecordText } from '../../src/record/sign.js';
import { reachgate } from '../helpers/cli.js';
import { makeTokens, postReport, serveInProcess, tempDir } from '../coordinator/coordinator-process.js';
import { sampleReports } from './sample.js';

const CHROMIUM = '/usr/bin/chromium';
const needs = [CHROMIUM, '/usr/bin/pdftoppm', '/usr/bin/pdftotext'].filter((file) => !existsSync(file));

t.test(
  'accept against a coordinator signs what its agents reported, and prints it to PDF',
  { skip: needs.length ? `needs ${needs.join(', ')} (apt-get install chromium poppler-utils)` : false },
  async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'coordinator.db');
    const reports = sampleReports(new Date());
    const [wsToken, tgToken, viewer] = await makeTokens(db, [
      { kind: 'agent', agent: 'ws-01', role: 'workstation' },
      { kind: 'agent', agent: 'tg-01', role: 'tightgate' },
      { kind: 'viewer' },
    ]);
    const coordinator = await serveInProcess(t, db);
    for (const [report, token] of [
      [reports[0]!, wsToken!],
      [reports[1]!, tgToken!],
    ] as const) {
      const answer = await postReport(coordinator.url, token, report);
      t.equal(answer.status, 201, answer.text);
    }
    writeFileSync(join(dir, 'viewer.token'), `${viewer}\n`);
    const key = join(dir, 'approver.key');
    t.equal((await reachgate(['key', 'create', '--out', key])).code, 0);
    const out = (name: string): string => join(dir, name);
    const run = await reachgate(
      [
        'accept',
        '--coordinator',
        coordinator.url,
        '--token-file',
        out('viewer.token'),
        '--approver',
        'Jane Doe <jane@example.org>',
        '--change',
        'CHG-1234',
        '--key',
        key,
        '--out',
        out('record.json'),
        '--html',
        out('record.html'),
        '--pdf',
        out('record.pdf'),
      ],
      { timeoutMs: 120_000 },
    );
    // One blocked row's control never saw its target open: the record is made, and says inconclusive.
    t.equal(run.code, 1, run.stderr);
    t.match(run.stdout, /Verdict INCONCLUSIVE: 3 cells \(2 agents x 3 rows\): 2 pass, 0 fail, 1 inconclusive, 0 error/);

    const text = readFileSync(out('record.json'), 'utf8');
    const { verification, signed } = verifyRecordText(text, loadPublicKey(`${key}.pub`));
    t.same(verification.problems, []);
    const { record } = signed as SignedRecord;
    t.same(record.source, { kind: 'coordinator', url: coordinator.url });
    t.same(
      record.agents.map((agent) => [agent.name, agent.role, agent.version, agent.host, agent.report.id]),
      [
        ['tg-01', 'tightgate', '0.1.0', 'tg-01.hq.example', 'report-tg-01'],
        ['ws-01', 'workstation', '0.1.0', 'ws-01.hq.example', 'report-ws-01'],
      ],
    );
    t.same(record.site_files, [{ sha256: 'cd'.repeat(32), agents: 2 }]);
    t.equal(record.edition, 'standard');
    t.same(record.window, { from: reports[0]!.started_at, to: reports[0]!.finished_at });
    t.equal(
      record.agents[1]!.report.sha256,
      (await import('node:crypto')).createHash('sha256').update(canonicalJson(reports[0])).digest('hex'),
      "the report digest is the posted report's",
    );
    t.same(record.agents[1]!.not_proven, reports[0]!.not_proven);

    // Offline from the same reports: the same agents and results, digest for digest (only the time received differs).
    for (const report of reports) writeFileSync(out(`${report.agent}.json`), JSON.stringify(report));
    const offline = await reachgate([
      'accept',
      '--reports',
      out('ws-01.json'),
      out('tg-01.json'),
      '--approver',
      'Jane Doe <jane@example.org>',
      '--change',
      'CHG-1234',
      '--key',
      key,
      '--out',
      out('offline.json'),
    ]);
    t.equal(offline.code, 1, offline.stderr);
    const agentDigests = (file: string): unknown => {
      const { agents } = JSON.parse(
        Buffer.from((JSON.parse(readFileSync(file, 'utf8')) as SignedRecord).jws.payload, 'base64url').toString(),
      ) as { agents: Array<{ members: Record<string, string> }> };
      return agents.map(({ members: { report: _received, ...members }, ...agent }) => ({ ...agent, members }));
    };
    t.same(agentDigests(out('offline.json')), agentDigests(out('record.json')));

    t.test('the HTML page stands alone: strict CSP, no script, nothing external', async (t) => {
      const html = readFileSync(out('record.html'), 'utf8');
      t.match(
        html,
        /<meta http-equiv="Content-Security-Policy" content="default-src &apos;none&apos;; style-src &apos;sha256-/,
      );
      t.notMatch(html, /<script|<link|src=|url\(|https?:\/\/(?!127\.0\.0\.1)/i);
      t.match(html, verification.short_digest!);
    });

    t.test('the PDF names the site, the verdict summary and the digest; page 1 renders', async (t) => {
      t.match(readFileSync(out('record.pdf')).subarray(0, 5).toString(), '%PDF-');
      // Lines wrap where the page ends them: compare with the white space of the text folded.
      const pdfText = execFileSync('pdftotext', [out('record.pdf'), '-'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
      t.match(pdfText, 'Acceptance record: site hq');
      t.match(pdfText, 'Verdict INCONCLUSIVE 3 cells (2 agents x 3 rows): 2 pass, 0 fail, 1 inconclusive, 0 error');
      t.match(pdfText, verification.short_digest!, 'the short digest');
      t.match(pdfText, verification.digest!, 'the whole digest');
      t.match(pdfText, 'Jane Doe <jane@example.org>');
      t.match(pdfText, verification.key_id!);
      execFileSync('pdftoppm', [
        '-png',
        '-r',
        '50',
        '-f',
        '1',
        '-l',
        '1',
        '-singlefile',
        out('record.pdf'),
        out('page'),
      ]);
      t.ok(statSync(out('page.png')).size > 10_000, 'page 1 as a PNG');
    });
  },
);
