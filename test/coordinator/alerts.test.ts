import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, makeTokens, postReport, startCoordinator, tempDir } from './coordinator-process.js';
import type { RunReport } from '../../src/core/result.js';
import { receiver, report, until } from './webhook-receiver.js';

// A real coordinator process (SQLite file) with --alerts, a real HTTP receiver on loopback, agents' reports
// posted: drift fires once after N reports, resolves after M, a kill -9 and restart sends nothing twice,
// and events wait (retried) while the receiver is down.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

interface JsonEvent {
  kind: string;
  status: string;
  agent: string;
  row: string | null;
}

t.test(
  'drift fires once after N reports, resolves after M, survives kill -9 and waits out a receiver that is down',
  async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'reachgate.db');
    const [ws1, ws2, viewer] = await makeTokens(db, [
      { kind: 'agent', agent: 'ws-1', role: 'workstation' },
      { kind: 'agent', agent: 'ws-2', role: 'workstation' },
      { kind: 'viewer' },
    ]);
    const hook = await receiver(t);
    const alerts = join(dir, 'alerts.yaml');
    writeFileSync(
      alerts,
      [
        'drift: {fire-after: 2, resolve-after: 2}',
        'check-interval: 100ms',
        'generator-url: https://coordinator.example:8443/',
        'retry: {first: 100ms, max: 400ms, attempts: 100, max-age: 5m}',
        'webhooks:',
        `  - {name: am, format: alertmanager, url: "${hook.url('/api/v2/alerts')}", labels: {team: network}}`,
        `  - {name: plain, format: json, url: "${hook.url('/plain')}", timeout: 2s}`,
        `  - {name: moved, format: alertmanager, url: "${hook.url('/moved')}"}`,
        '',
      ].join('\n'),
    );
    let coordinator = await startCoordinator(t, db, ['--alerts', alerts]);
    const post = async (token: string, body: RunReport): Promise<void> => {
      const answer = await postReport(coordinator.url, token, body);
      t.equal(answer.status, 201, answer.text);
    };
    const amAlerts = (): AlertmanagerAlert[] =>
      hook.received.filter((one) => one.path === '/api/v2/alerts').flatMap((one) => one.body as AlertmanagerAlert[]);
    const plainEvents = (): JsonEvent[] =>
      hook.received
        .filter((one) => one.path === '/plain')
        .flatMap((one) => (one.body as { events: JsonEvent[] }).events);
    const sentLogs = () =>
      coordinator.logs
        .filter((line) => line.msg === 'alert events sent')
        .reduce((sum, line) => sum + Number(line.events), 0);
    const driftAm = () => amAlerts().filter((alert) => alert.labels.alertname === 'ReachgateDrift');
    const driftPlain = () => plainEvents().filter((event) => event.kind === 'drift');

    // ws-2 reports every second: it goes stale two seconds after its report.
    await post(ws1!, report('ws-1', false));
    await post(ws2!, report('ws-2', false, 1));
    const accepted = await call(`${coordinator.url}/api/v1/baseline`, {
      token: viewer!,
      body: JSON.stringify({ approver: 'A. Admin', change: 'CHG-1' }),
    });
    t.equal(accepted.status, 200, accepted.text);

    await post(ws1!, report('ws-1', true));
    // One drifted report is below fire-after: nothing is sent (the sender checks every 100 ms).
    await sleep(600);
    t.same(driftAm(), [], 'one drifted report fires nothing');
    await post(ws1!, report('ws-1', true));
    await until('the drift alert at both webhooks', () => driftAm().length === 1 && driftPlain().length === 1);
    const [firing] = driftAm();
    t.match(firing, {
      labels: {
        alertname: 'ReachgateDrift',
        agent: 'ws-1',
        row: 'row-0',
        role: 'workstation',
        site: 'lab',
        team: 'network',
      },
      annotations: { summary: /ws-1 row-0: fail, accepted as pass/ },
      startsAt: String,
      generatorURL: 'https://coordinator.example:8443/',
    });
    t.notOk('endsAt' in firing!, 'a firing alert has no end');
    t.match(driftPlain()[0], { kind: 'drift', status: 'firing', agent: 'ws-1', row: 'row-0', verdict: 'fail' });

    await until('the stale alert of ws-2', () =>
      amAlerts().some((alert) => alert.labels.alertname === 'ReachgateAgentStale' && alert.labels.agent === 'ws-2'),
    );
    t.ok(
      hook.received.some((one) => one.path === '/moved'),
      'the webhook that answers with a redirect was called',
    );
    t.ok(
      coordinator.logs.some((line) => /redirects are not followed/.test(String(line.why))),
      'its redirect was not followed: the event waits for a retry',
    );
    // Kill only after the coordinator recorded every send (a send cut short by the kill is sent again).
    await until('the sends recorded', () => sentLogs() >= 4);

    // kill -9, restart on the same database: nothing that was sent goes out again.
    coordinator.child.kill('SIGKILL');
    await coordinator.exited;
    coordinator = await startCoordinator(t, db, ['--alerts', alerts]);
    await post(ws1!, report('ws-1', true));
    await sleep(800);
    t.equal(driftAm().length, 1, 'no drift alert sent twice after the restart');
    t.equal(driftPlain().length, 1, 'no drift event sent twice after the restart');
    t.equal(amAlerts().filter((alert) => alert.labels.alertname === 'ReachgateAgentStale').length, 1);

    // The receiver goes down; two reports matching the baseline resolve the alert, which waits.
    await hook.down();
    await post(ws1!, report('ws-1', false));
    await post(ws1!, report('ws-1', false));
    await post(ws2!, report('ws-2', false, 1));
    await until(
      'retries while the receiver is down',
      () =>
        coordinator.logs.filter(
          (line) =>
            line.msg === 'alert event not delivered; retrying' && ['am', 'plain'].includes(String(line.webhook)),
        ).length >= 4,
    );
    t.equal(driftAm().length, 1, 'nothing arrived while down');
    await hook.up();
    await until('the resolved alert at both webhooks', () => driftAm().length === 2 && driftPlain().length === 2);
    const resolved = driftAm()[1]!;
    t.match(resolved, { labels: { alertname: 'ReachgateDrift', agent: 'ws-1', row: 'row-0' }, endsAt: String });
    t.equal(resolved.startsAt, firing!.startsAt, 'the resolved alert names when it started');
    t.match(driftPlain()[1], { status: 'resolved', agent: 'ws-1', row: 'row-0' });
    await until('the stale alert resolved', () =>
      amAlerts().some((alert) => alert.labels.alertname === 'ReachgateAgentStale' && alert.endsAt !== undefined),
    );
    await sleep(500);
    t.equal(driftAm().length, 2, 'each transition was sent once');
    t.equal(driftPlain().length, 2);
    const stop = await coordinator.stop();
    t.equal(stop.code, 0);
  },
);
