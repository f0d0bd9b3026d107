import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_PROCESS, reachgate, reachgateJson } from '../helpers/cli.js';
import { freePort, listener } from '../agent/fleet.js';
import type { ProbeResult, RunReport, Verdict } from '../../src/core/result.js';
import { summarize } from '../../src/core/verdict.js';
import { baselineOf, buildMatrix } from '../../src/coordinator/matrix.js';
import { worstVerdict, type LatestReport } from '../../src/core/matrix.js';
import { tcpResult } from '../helpers/probe-results.js';

const NOW = new Date('2026-11-26T12:00:00.000Z');

/** A blocked probe tied to a control role: it reported pass (the path looked closed). */
function negative(row: string, address: string, port: number, control: string): ProbeResult {
  return tcpResult(row, address, port, {
    expect: 'blocked',
    state: 'filtered',
    verdict: 'pass',
    reason: 'no answer within 1 s',
    control,
  });
}

function latest(
  agent: string,
  role: string | null,
  results: ProbeResult[],
  fields: Partial<RunReport> = {},
  receivedAt = '2026-11-26T11:59:30.000Z',
): LatestReport {
  return {
    received_at: receivedAt,
    report: {
      id: `report-${agent}`,
      agent,
      role,
      site: 'lab',
      profile: { name: `tightgate/${role}`, hash: 'ab'.repeat(32) },
      version: '0.1.0',
      started_at: '2026-11-26T11:59:00.000Z',
      finished_at: '2026-11-26T11:59:05.000Z',
      results,
      summary: summarize(results.map((r) => r.verdict)),
      interval_s: 300,
      ...fields,
    },
  };
}

function cell(matrix: ReturnType<typeof buildMatrix>, agent: string, row: string) {
  return matrix.cells.find((c) => c.agent === agent && c.row === row);
}

t.test('a cell is the worst verdict of its results: error > fail > inconclusive > pass', async (t) => {
  const verdicts: Verdict[][] = [
    ['pass', 'pass'],
    ['pass', 'inconclusive'],
    ['inconclusive', 'fail', 'pass'],
    ['fail', 'error', 'inconclusive'],
  ];
  t.same(
    verdicts.map((list) => worstVerdict(list)),
    ['pass', 'inconclusive', 'fail', 'error'],
  );
  const matrix = buildMatrix(
    [
      latest('ws-01', 'workstation', [
        tcpResult('viewer', '198.51.100.10', 5900),
        tcpResult('viewer', '198.51.100.10', 5900, {
          id: 'second',
          state: 'filtered',
          verdict: 'fail',
          reason: 'no answer',
        }),
        tcpResult('sftp', '198.51.100.10', 22),
      ]),
    ],
    { now: NOW },
  );
  t.equal(cell(matrix, 'ws-01', 'viewer')?.verdict, 'fail');
  t.equal(cell(matrix, 'ws-01', 'viewer')?.results.length, 2, 'the cell carries every result of its row');
  t.equal(cell(matrix, 'ws-01', 'sftp')?.verdict, 'pass');
  t.same(matrix.rows, ['viewer', 'sftp'], 'rows in the order the profile lists them');
  t.match(matrix.summary, { pass: 1, fail: 1, inconclusive: 0, error: 0, cells: 2, agents: 1 });
  t.equal(matrix.site, 'lab');
  t.equal(matrix.generated_at, NOW.toISOString());
});

t.test('columns are agents grouped by role, and each agent shows only its newest report', async (t) => {
  const matrix = buildMatrix(
    [
      latest('ws-02', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)]),
      latest('tg-01', 'tightgate', [tcpResult('web', '203.0.113.80', 443)]),
      latest(
        'ws-01',
        'workstation',
        [tcpResult('viewer', '198.51.100.10', 5900, { verdict: 'fail', state: 'filtered' })],
        { finished_at: '2026-11-26T11:50:00.000Z', id: 'old' },
      ),
      latest('ws-01', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)], { id: 'new' }),
      latest('probe-host', null, [tcpResult('viewer', '198.51.100.10', 5900)]),
    ],
    { now: NOW },
  );
  t.same(
    matrix.agents.map((agent) => [agent.role, agent.name]),
    [
      ['tightgate', 'tg-01'],
      ['workstation', 'ws-01'],
      ['workstation', 'ws-02'],
      [null, 'probe-host'],
    ],
  );
  t.equal(matrix.agents[1]!.report_id, 'new');
  t.equal(cell(matrix, 'ws-01', 'viewer')?.verdict, 'pass');
  t.same(matrix.agents[0]!.profile, { name: 'tightgate/tightgate', hash: 'ab'.repeat(32) });
  t.equal(matrix.agents[0]!.version, '0.1.0');
});

t.test('an agent whose last report is older than twice its interval is stale, and so are its cells', async (t) => {
  const fresh = latest('ws-01', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)], {
    finished_at: '2026-11-26T11:50:01.000Z',
    interval_s: 300,
  });
  const old = latest('ws-02', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)], {
    finished_at: '2026-11-26T11:49:59.000Z',
    interval_s: 300,
  });
  const once = latest('ws-03', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)], {
    finished_at: '2026-11-20T00:00:00.000Z',
    interval_s: undefined,
  });
  const matrix = buildMatrix([fresh, old, once], { now: NOW });
  t.same(
    matrix.agents.map((agent) => [agent.name, agent.stale]),
    [
      ['ws-01', false],
      ['ws-02', true],
      ['ws-03', false],
    ],
    'a report without an interval (a one-off run) never goes stale',
  );
  t.equal(cell(matrix, 'ws-02', 'viewer')?.stale, true);
  t.equal(cell(matrix, 'ws-02', 'viewer')?.verdict, 'pass', 'stale marks the cell; it does not change the verdict');
  t.equal(matrix.summary.stale_agents, 1);
});

t.test('an agent clock running ahead cannot make an old report look fresh: the arrival time bounds it', async (t) => {
  const ahead = latest(
    'ws-01',
    'workstation',
    [tcpResult('viewer', '198.51.100.10', 5900)],
    { finished_at: '2026-11-27T00:00:00.000Z', interval_s: 60 },
    '2026-11-26T11:50:00.000Z',
  );
  const matrix = buildMatrix([ahead], { now: NOW });
  t.equal(matrix.agents[0]!.last_report_at, '2026-11-26T11:50:00.000Z');
  t.equal(matrix.agents[0]!.stale, true);
});

t.test('a blocked probe whose control role saw the same address open passes', async (t) => {
  const matrix = buildMatrix(
    [
      latest('ws-01', 'workstation', [negative('no-direct-internet', '203.0.113.80', 443, 'tightgate')]),
      // The control reached the canary on another port: any port proves the address answers.
      latest('tg-01', 'tightgate', [tcpResult('web', '203.0.113.80', 80)]),
    ],
    { now: NOW },
  );
  const verdict = cell(matrix, 'ws-01', 'no-direct-internet')!;
  t.equal(verdict.verdict, 'pass');
  t.same(verdict.results[0]!.control_seen_by, ['tg-01']);
  t.equal(verdict.results[0]!.reported_verdict, undefined);
});

t.test('a blocked probe whose control did not see the target open is inconclusive, not pass', async (t) => {
  const cases: Array<[string, LatestReport[]]> = [
    ['no agent of the control role reported', []],
    [
      'the control saw the address closed',
      [latest('tg-01', 'tightgate', [tcpResult('web', '203.0.113.80', 443, { state: 'closed', verdict: 'fail' })])],
    ],
    ['the control saw another address open', [latest('tg-01', 'tightgate', [tcpResult('web', '203.0.113.81', 443)])]],
    ['an agent of another role saw it open', [latest('dns-01', 'dns', [tcpResult('web', '203.0.113.80', 443)])]],
  ];
  for (const [name, others] of cases) {
    const matrix = buildMatrix(
      [latest('ws-01', 'workstation', [negative('no-direct-internet', '203.0.113.80', 443, 'tightgate')]), ...others],
      { now: NOW },
    );
    const judged = cell(matrix, 'ws-01', 'no-direct-internet')!;
    t.equal(judged.verdict, 'inconclusive', name);
    t.equal(judged.results[0]!.reported_verdict, 'pass', `${name}: the reported verdict is kept`);
    t.same(judged.results[0]!.control_seen_by, [], name);
  }
});

t.test(
  'a control agent running several profiles counts for each of its roles; a failed block stays fail',
  async (t) => {
    const matrix = buildMatrix(
      [
        latest('ws-01', 'workstation', [
          negative('no-direct-internet', '203.0.113.80', 443, 'tightgate'),
          tcpResult('no-direct-internet', '203.0.113.81', 443, {
            expect: 'blocked',
            state: 'open',
            verdict: 'fail',
            control: 'tightgate',
          }),
        ]),
        latest('tg-01', 'tightgate+dns', [tcpResult('web', '203.0.113.80', 443)]),
      ],
      { now: NOW },
    );
    const judged = cell(matrix, 'ws-01', 'no-direct-internet')!;
    t.same(
      judged.results.map((r) => r.verdict),
      ['pass', 'fail'],
    );
    t.equal(judged.verdict, 'fail');
  },
);

t.test('drift: cells that differ from the baseline, are new, or vanished are marked and counted', async (t) => {
  const accepted = buildMatrix(
    [
      latest('ws-01', 'workstation', [
        tcpResult('viewer', '198.51.100.10', 5900),
        tcpResult('sftp', '198.51.100.10', 22),
      ]),
      latest('ws-02', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)]),
    ],
    { now: NOW },
  );
  const baseline = baselineOf(accepted);
  t.same(baseline, { 'ws-01|viewer': 'pass', 'ws-01|sftp': 'pass', 'ws-02|viewer': 'pass' });
  t.equal(accepted.drift_count, 0, 'without a baseline nothing drifts');

  const same = buildMatrix(
    [
      latest('ws-01', 'workstation', [
        tcpResult('viewer', '198.51.100.10', 5900),
        tcpResult('sftp', '198.51.100.10', 22),
      ]),
      latest('ws-02', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)]),
    ],
    { now: NOW, baseline },
  );
  t.equal(same.drift_count, 0);
  t.notOk(same.cells.some((c) => c.drift));

  const later = buildMatrix(
    [
      latest('ws-01', 'workstation', [
        tcpResult('viewer', '198.51.100.10', 5900, { state: 'filtered', verdict: 'fail' }),
      ]),
      latest('ws-02', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)]),
      latest('ws-03', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)]),
    ],
    { now: NOW, baseline },
  );
  t.equal(cell(later, 'ws-01', 'viewer')?.drift, true, 'pass -> fail drifts');
  t.equal(cell(later, 'ws-01', 'viewer')?.baseline, 'pass');
  t.equal(cell(later, 'ws-02', 'viewer')?.drift, false);
  t.equal(cell(later, 'ws-03', 'viewer')?.drift, true, 'a cell the baseline does not know drifts');
  t.same(later.vanished, [{ agent: 'ws-01', row: 'sftp', baseline: 'pass' }]);
  t.equal(later.drift_count, 3);
  t.equal(later.summary.drift, 3);
});

t.test('an empty fleet gives an empty matrix, not an error', async (t) => {
  const matrix = buildMatrix([], { now: NOW, baseline: null });
  t.same([matrix.rows, matrix.agents, matrix.cells, matrix.site, matrix.drift_count], [[], [], [], null, 0]);
});

t.test(
  'offline, `reachgate matrix --reports` builds the same matrix from RunReport files of real loopback runs',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reachgate-matrix-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // The "Internet canary" listens on 127.0.0.2: tightgate reaches it (the control), the workstation probes a port where nothing listens.
    const canary = await listener(t, '127.0.0.2');
    const closed = await freePort();
    writeFileSync(
      join(dir, 'site.yaml'),
      'site: loopback-lab\nhosts:\n  tightgate: [127.0.0.1]\n  internet-canaries: [127.0.0.2]\nsettings:\n  timeout: 500ms\n',
    );
    writeFileSync(
      join(dir, 'tightgate.yaml'),
      `role: tightgate\nprobes:\n  - row: web\n    kind: tcp\n    target: internet-canaries\n    ports: ${canary}\n`,
    );
    const workstation = (control: string) =>
      `role: workstation\nprobes:\n  - row: no-direct-internet\n    kind: tcp\n    target: ` +
      `internet-canaries\n    ports: ${closed}\n    expect: blocked\n    control: ${control}\n`;
    writeFileSync(join(dir, 'workstation.yaml'), workstation('tightgate'));
    const site = join(dir, 'site.yaml');
    const tg = await reachgate([
      'run',
      join(dir, 'tightgate.yaml'),
      '--site',
      site,
      '--agent',
      'tg-01',
      '--format',
      'json',
      '--out',
      join(dir, 'tg.json'),
    ]);
    const ws = await reachgate(
      [
        'run',
        join(dir, 'workstation.yaml'),
        '--site',
        site,
        '--agent',
        'ws-01',
        '--format',
        'json',
        '--out',
        join(dir, 'ws.json'),
      ],
      { via: IN_PROCESS },
    );
    // One run and one matrix as processes (the binary's own path); the other command lines in this process.
    t.same([tg.code, ws.code], [0, 0]);
    const reports = [join(dir, 'tg.json'), join(dir, 'ws.json')];

    const json = await reachgateJson<ReturnType<typeof buildMatrix>>([
      'matrix',
      '--reports',
      ...reports,
      '--format',
      'json',
    ]);
    const { json: matrix } = json;
    t.equal(json.code, 0, 'every cell passes: the control saw the canary open');
    t.same(
      matrix.agents.map((agent) => [agent.role, agent.name]),
      [
        ['tightgate', 'tg-01'],
        ['workstation', 'ws-01'],
      ],
    );
    t.same(
      matrix.cells.map((c) => [c.agent, c.row, c.verdict]),
      [
        ['tg-01', 'web', 'pass'],
        ['ws-01', 'no-direct-internet', 'pass'],
      ],
    );
    t.same(matrix.cells[1]!.results[0]!.control_seen_by, ['tg-01']);
    writeFileSync(join(dir, 'accepted.json'), json.stdout);

    const alone = await reachgate(['matrix', '--reports', join(dir, 'ws.json')], { via: IN_PROCESS });
    t.equal(alone.code, 1, 'without its control the negative probe proves nothing');
    t.match(alone.stdout, /no-direct-internet\s+INCONCL/);

    const drift = await reachgate(
      ['matrix', '--reports', join(dir, 'ws.json'), '--baseline', join(dir, 'accepted.json'), '--format', 'junit'],
      { via: IN_PROCESS },
    );
    t.equal(drift.code, 1);
    t.match(drift.stdout, /<failure type="inconclusive" message="inconclusive, drift from baseline pass: /);
    t.match(
      drift.stdout,
      /<testsuite name="baseline" tests="1" failures="1"/,
      'the vanished tightgate cell counts as drift',
    );

    const html = await reachgate(
      ['matrix', '--reports', ...reports, '--format', 'html', '--out', join(dir, 'matrix.html')],
      { via: IN_PROCESS },
    );
    t.equal(html.code, 0);
    t.match(html.stdout, /^site loopback-lab/, 'the table on the terminal, the page in the file');
    t.match(readFileSync(join(dir, 'matrix.html'), 'utf8'), /^<!DOCTYPE html>[\s\S]*<style>[\s\S]*tg-01/);

    const usage = await reachgate(['matrix', '--format', 'json'], { via: IN_PROCESS });
    t.equal(usage.code, 2);
    t.match(usage.stderr, /name a source: --coordinator URL --token-file FILE, or --reports FILE/);
    writeFileSync(join(dir, 'broken.json'), '{"id": "x", "agent": ');
    const broken = await reachgate(['matrix', '--reports', join(dir, 'broken.json')], { via: IN_PROCESS });
    t.equal(broken.code, 2);
    t.match(broken.stderr, /broken\.json: not valid JSON/);
    writeFileSync(join(dir, 'viewer.token'), 'rg_viewer_0123456789\n');
    const down = await reachgate(
      ['matrix', '--coordinator', `http://127.0.0.1:${closed}`, '--token-file', join(dir, 'viewer.token')],
      { via: IN_PROCESS },
    );
    t.equal(down.code, 2);
    t.match(down.stderr, /cannot get the matrix from http:\/\/127\.0\.0\.1:\d+\/api\/v1\/matrix: ECONNREFUSED/);
    const notToken = await reachgate(['matrix', '--coordinator', `http://127.0.0.1:${closed}`, '--token-file', site], {
      via: IN_PROCESS,
    });
    t.equal(notToken.code, 2);
    t.match(notToken.stderr, /site\.yaml does not hold a token: expected one line without spaces/);
  },
);

t.test(
  '`reachgate matrix --coordinator` asks GET /api/v1/matrix with the viewer token and prints it in any format',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reachgate-matrix-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const served = buildMatrix([latest('ws-01', 'workstation', [tcpResult('viewer', '198.51.100.10', 5900)])], {
      now: NOW,
    });
    const asked: Array<string | undefined> = [];
    const server = createServer((request, response) => {
      asked.push(request.headers.authorization);
      // The first page of cells with their results: a matrix without `page` is the whole matrix.
      if (request.url !== '/base/api/v1/matrix?results=true&limit=1000&offset=0')
        return void response.writeHead(404).end();
      if (request.headers.authorization !== 'Bearer rg_viewer_ok')
        return void response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unknown token"}');
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/base/`;
    writeFileSync(join(dir, 'viewer.token'), 'rg_viewer_ok\n');
    writeFileSync(join(dir, 'wrong.token'), 'rg_viewer_wrong\n');
    const table = await reachgate(['matrix', '--coordinator', url, '--token-file', join(dir, 'viewer.token')]);
    t.equal(table.code, 0);
    t.match(table.stdout, /^site lab · generated 2026-11-26T12:00:00.000Z · 1 agent · 1 row/);
    t.match(table.stdout, /viewer\s+PASS/);
    const junit = await reachgate(
      ['matrix', '--coordinator', url, '--token-file', join(dir, 'viewer.token'), '--format', 'junit'],
      { via: IN_PROCESS },
    );
    t.match(junit.stdout, /<testcase classname="workstation.ws-01" name="viewer" time="0">/);
    const refused = await reachgate(['matrix', '--coordinator', url, '--token-file', join(dir, 'wrong.token')], {
      via: IN_PROCESS,
    });
    t.equal(refused.code, 2);
    t.match(
      refused.stderr,
      /answered HTTP 401: \{"error":"unknown token"\}\nUse a viewer token: `reachgate token create --viewer`/,
    );
    t.same(asked, ['Bearer rg_viewer_ok', 'Bearer rg_viewer_ok', 'Bearer rg_viewer_wrong']);
  },
);
