import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAlertSettings } from '../../src/profile/alerts-config.js';
import { reachgate } from '../helpers/cli.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

const dir = mkdtempSync(join(tmpdir(), 'reachgate-alerts-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(text: string): string {
  const path = join(dir, `alerts-${++files}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The problems a file has, as `line:col: message` lines. */
async function problems(text: string): Promise<string[]> {
  const path = file(text);
  try {
    await loadAlertSettings(path);
    return [];
  } catch (error) {
    return (error as Error).message
      .split('\n')
      .slice(1)
      .map((line) => line.slice(path.length + 1));
  }
}

t.test('a valid alerts file gives its settings, with the defaults filled in', async (t) => {
  writeFileSync(join(dir, 'am.token'), 'secret-token\n');
  const settings = await loadAlertSettings(
    file(
      [
        'drift: {fire-after: 4}',
        'webhooks:',
        '  - name: am',
        '    format: alertmanager',
        '    url: http://127.0.0.1:9093/api/v2/alerts',
        '    token-file: am.token',
        '    labels: {team: network}',
        '  - {name: plain, format: json, url: "https://hooks.example/reachgate", timeout: 2s}',
        '',
      ].join('\n'),
    ),
  );
  t.same(settings, {
    fireAfter: 4,
    resolveAfter: 3,
    stale: true,
    checkIntervalMs: 5000,
    resendMs: 60_000,
    retry: { firstMs: 2000, maxMs: 300_000, attempts: 12, maxAgeMs: 3_600_000 },
    webhooks: [
      {
        name: 'am',
        url: 'http://127.0.0.1:9093/api/v2/alerts',
        format: 'alertmanager',
        timeoutMs: 10_000,
        token: 'secret-token',
        labels: { team: 'network' },
      },
      { name: 'plain', url: 'https://hooks.example/reachgate', format: 'json', timeoutMs: 2000, labels: {} },
    ],
  });
});

t.test('the commented example file is valid', async (t) => {
  const settings = await loadAlertSettings(join(PACKAGE_ROOT, 'profiles', 'examples', 'alerts.example.yaml'));
  t.same(
    settings.webhooks.map((webhook) => [webhook.name, webhook.format]),
    [
      ['alertmanager', 'alertmanager'],
      ['chatops', 'json'],
    ],
  );
});

t.test('each mistake is reported at its line and column', async (t) => {
  t.same(
    await problems(
      [
        'drift:',
        '  fire-after: 0',
        '  resolve-afterr: 2',
        'retry: {first: 10m, max: 1m, max-age: 2d}',
        'webhooks:',
        '  - name: am',
        '    format: prometheus',
        '    url: ftp://example',
        '  - {name: am, format: json, url: "http://127.0.0.1:1/x", timeout: 5m}',
        '',
      ].join('\n'),
    ),
    [
      '2:15: `fire-after` must be at least 1, got `0`',
      '3:3: unknown key `resolve-afterr` (did you mean `resolve-after`?); expected one of: fire-after, resolve-after',
      '4:39: `max-age` `2d` is not of the expected form (a duration like 2s or 500ms)',
      '7:13: `format` must be one of alertmanager, json; got `prometheus`',
      '8:10: `url` `ftp://example` is not of the expected form /^https?://[^\\s/]+(/\\S*)?$/',
    ],
  );
  t.same(
    await problems(
      [
        'retry: {first: 10m, max: 1m}',
        'webhooks:',
        '  - {name: am, format: json, url: "http://127.0.0.1:1/x"}',
        '  - {name: am, format: json, url: "http://127.0.0.1:1/x", timeout: 5m, token-file: missing.token}',
        '',
      ].join('\n'),
    ),
    [
      '1:16: `first` must not be more than `max`',
      '4:12: the webhook name `am` is used twice',
      '4:68: `timeout` must be from 100ms to 1m, got `5m`',
      '4:84: cannot use the token file missing.token: ENOENT',
    ],
  );
  t.same(await problems('resend: 500ms\nwebhooks: [{name: am, format: alertmanager, url: "http://127.0.0.1:1/x"}]\n'), [
    '1:9: `resend` must be from 1s to 1h, got `500ms`',
  ]);
  t.same(await problems('stale: true\n'), ['1:1: the file is missing the required key `webhooks`']);
  t.match(await problems('webhooks: [\n'), [/^2:1: YAML: /]);
});

t.test('the coordinator refuses to start with an invalid alerts file: exit 2 and file:line:col', async (t) => {
  const path = file('webhooks:\n  - {name: am, format: jsn, url: "http://127.0.0.1:1/x"}\n');
  const run = await reachgate([
    'coordinator',
    '--db',
    join(dir, 'never.db'),
    '--listen',
    '127.0.0.1:0',
    '--alerts',
    path,
  ]);
  t.equal(run.code, 2);
  t.match(
    run.stderr,
    `${path}:2:24: \`format\` must be one of alertmanager, json; got \`jsn\` (did you mean \`json\`?)`,
  );
});
