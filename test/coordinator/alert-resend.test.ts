import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, makeTokens, postReport, serveInProcess, tempDir } from './coordinator-process.js';
import type { RunReport } from '../../src/core/result.js';
import { receiver, report, until } from './webhook-receiver.js';

// A real coordinator (served in this process, SQLite file) with `resend: 1s` and a real HTTP receiver on loopback: a firing
// drift alert reaches the Alertmanager webhook again each second with its first startsAt and an endsAt ahead,
// the plain webhook gets each transition once, and nothing is re-sent after the alert resolves.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface AlertmanagerAlert {
  labels: Record<string, string>;
  startsAt: string;
  endsAt?: string;
}

t.test(
  'a firing alert is re-sent to Alertmanager with its startsAt and a future endsAt, never to the plain webhook',
  async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'reachgate.db');
    const [ws1, viewer] = await makeTokens(db, [
      { kind: 'agent', agent: 'ws-1', role: 'workstation' },
      { kind: 'viewer' },
    ]);
    const hook = await receiver(t);
    const alerts = join(dir, 'alerts.yaml');
    writeFileSync(
      alerts,
      [
        'drift: {fire-after: 1, resolve-after: 1}',
        'stale: false',
        'check-interval: 100ms',
        'resend: 1s',
        'webhooks:',
        `  - {name: am, format: alertmanager, url: "${hook.url('/api/v2/alerts')}"}`,
        `  - {name: plain, format: json, url: "${hook.url('/plain')}"}`,
        '',
      ].join('\n'),
    );
    const coordinator = await serveInProcess(t, db, { alertsFile: alerts });
    const post = async (body: RunReport): Promise<void> => {
      const answer = await postReport(coordinator.url, ws1!, body);
      t.equal(answer.status, 201, answer.text);
    };
    // Each alert with the time it arrived.
    const arrived: Array<{ at: number; alert: AlertmanagerAlert }> = [];
    const seen = { am: 0 };
    const amAlerts = () => {
      const bodies = hook.received.filter((one) => one.path === '/api/v2/alerts');
      for (const body of bodies.slice(seen.am))
        for (const alert of body.body as AlertmanagerAlert[]) arrived.push({ at: Date.now(), alert });
      seen.am = bodies.length;
      return arrived;
    };
    const plainEvents = () =>
      hook.received
        .filter((one) => one.path === '/plain')
        .flatMap((one) => (one.body as { events: Array<{ status: string }> }).events);

    await post(report('ws-1', false));
    const accepted = await call(`${coordinator.url}/api/v1/baseline`, {
      token: viewer!,
      body: JSON.stringify({ approver: 'A. Admin', change: 'CHG-1' }),
    });
    t.equal(accepted.status, 200, accepted.text);
    await post(report('ws-1', true));
    await until('the firing alert and two re-sends', () => amAlerts().length >= 3);
    const [first, ...again] = amAlerts();
    t.notOk('endsAt' in first!.alert, 'the first send of a firing alert has no end');
    for (const { at, alert } of again) {
      t.equal(alert.startsAt, first!.alert.startsAt, 'a re-send keeps the startsAt');
      t.ok(Date.parse(alert.endsAt!) > at, `its endsAt ${alert.endsAt} is ahead of its arrival`);
      t.match(alert.labels, { alertname: 'ReachgateDrift', agent: 'ws-1', row: 'row-0' });
    }
    t.same(
      plainEvents().map((event) => event.status),
      ['firing'],
      'the plain webhook got the transition once',
    );

    await post(report('ws-1', false));
    // The resolved alert ends when it resolved, before it arrived; a re-send's end is ahead of its arrival.
    const ended = ({ at, alert }: { at: number; alert: AlertmanagerAlert }) =>
      alert.endsAt !== undefined && Date.parse(alert.endsAt) <= at;
    await until('the resolved alert', () => amAlerts().some(ended));
    const settled = amAlerts().length;
    t.ok(ended(amAlerts().at(-1)!), 'the resolved alert came last');
    const resolved = amAlerts().at(-1)!.alert;
    t.equal(resolved.startsAt, first!.alert.startsAt, 'the resolved alert names when it started');
    // Two and a half intervals: a re-send would have come.
    await sleep(2500);
    t.equal(amAlerts().length, settled, 'nothing re-sent after it resolved');
    t.same(
      plainEvents().map((event) => event.status),
      ['firing', 'resolved'],
    );
    await t.resolves(coordinator.stop(), 'the coordinator and its alert sender stop');
  },
);
