import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { matrixFromFiles } from '../../src/coordinator/matrix-files.js';
import { makeReport, tempDir } from './coordinator-process.js';

t.test('the offline matrix has a column per report file and a cell per result', async (t) => {
  const dir = tempDir(t);
  const ws = makeReport('ws-01', 'workstation', { results: 2 });
  const tg = makeReport('tg-01', 'tightgate', { results: 3 });
  writeFileSync(join(dir, 'ws.json'), JSON.stringify(ws));
  writeFileSync(join(dir, 'tg.json'), JSON.stringify(tg));
  const matrix = matrixFromFiles([join(dir, 'ws.json'), join(dir, 'tg.json')], undefined, new Date(ws.finished_at));
  t.same(matrix.agents.map((agent) => agent.name).sort(), ['tg-01', 'ws-01']);
  t.equal(matrix.cells.length, 5);
  t.equal(matrix.summary.drift, 0);
});

t.test('a baseline file marks drift: a matrix written as JSON and an agent|row object alike', async (t) => {
  const dir = tempDir(t);
  const report = makeReport('ws-01', 'workstation', { results: 1 });
  writeFileSync(join(dir, 'ws.json'), JSON.stringify(report));
  const now = new Date(report.finished_at);
  const accepted = matrixFromFiles([join(dir, 'ws.json')], undefined, now);
  const cell = accepted.cells[0]!;
  writeFileSync(join(dir, 'matrix.json'), JSON.stringify(accepted));
  writeFileSync(join(dir, 'pairs.json'), JSON.stringify({ [`${cell.agent}|${cell.row}`]: 'fail' }));
  t.equal(matrixFromFiles([join(dir, 'ws.json')], join(dir, 'matrix.json'), now).summary.drift, 0);
  t.equal(matrixFromFiles([join(dir, 'ws.json')], join(dir, 'pairs.json'), now).summary.drift, 1);
});

t.test('each file a user names wrongly is a usage error that says what is wrong and how to write it', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'ws.json');
  writeFileSync(good, JSON.stringify(makeReport('ws-01', 'workstation')));
  const files: Record<string, string> = {
    'broken.json': 'nope\n',
    'partial.json': '{"id":"x"}',
    'list.json': '[1]',
    'results.json': JSON.stringify({ ...makeReport('ws-01', 'workstation'), results: null }),
    'numbers.json': '{"ws-01|viewer": 1}',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const cases: Array<[string[], string | undefined, RegExp, RegExp | undefined]> = [
    [[join(dir, 'missing.json')], undefined, /^cannot read the report .*missing\.json: ENOENT$/, undefined],
    [[join(dir, 'broken.json')], undefined, /broken\.json: not valid JSON \(/, /The report must be one JSON document/],
    [
      [join(dir, 'partial.json')],
      undefined,
      /partial\.json: not a RunReport \(missing agent, version, started_at, finished_at\)$/,
      /reachgate run PROFILE --site SITE --format json --out FILE/,
    ],
    [[join(dir, 'list.json')], undefined, /list\.json: not a RunReport \(missing id, agent, version/, /reachgate run/],
    [[join(dir, 'results.json')], undefined, /results\.json: not a RunReport \(no results list\)$/, /reachgate run/],
    [[good], join(dir, 'broken.json'), /broken\.json: not valid JSON \(/, /The baseline must be one JSON document/],
    [[good], join(dir, 'list.json'), /list\.json: not a baseline$/, /"agent\|row": "verdict"/],
    [[good], join(dir, 'numbers.json'), /numbers\.json: not a baseline$/, /reachgate matrix \.\.\. --format json/],
  ];
  t.plan(cases.length);
  for (const [reports, baseline, message, hint] of cases) {
    const wanted = { name: 'UsageError', message, ...(hint ? { hint } : {}) };
    t.throws(() => matrixFromFiles(reports, baseline, new Date()), wanted, message.source);
  }
});
