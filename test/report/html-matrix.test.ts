import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { summarize } from '../../src/core/verdict.js';
import { buildMatrix } from '../../src/coordinator/matrix.js';
import type { Matrix } from '../../src/core/matrix.js';
import { matrixAsset, renderMatrixHtml } from '../../src/report/html-matrix.js';
import { tcpResult } from '../helpers/probe-results.js';

const CSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:";
const HOSTILE = '<img src=x onerror=alert(1)>';
const NOW = new Date('2026-11-26T12:00:00.000Z');

/** The shared TCP result, with a round-trip time for the page to show. */
const result = (row: string, address: string, port: number, fields: Partial<ProbeResult> = {}): ProbeResult =>
  tcpResult(row, address, port, { rtt_ms: 0.4, ...fields });

function report(agent: string, role: string, results: ProbeResult[], fields: Partial<RunReport> = {}): RunReport {
  return {
    id: `report-${agent}`,
    agent,
    role,
    site: 'lab <&> "hq"',
    profile: { name: `tightgate/${role}`, hash: 'c0ffee'.repeat(10) + 'abcd' },
    version: '0.1.0',
    started_at: '2026-11-26T11:59:00.000Z',
    finished_at: '2026-11-26T11:59:05.000Z',
    results,
    summary: summarize(results.map((r) => r.verdict)),
    interval_s: 300,
    ...fields,
  };
}

/** A matrix with every verdict, a stale agent, a drifted cell and an agent named like an XSS attack. */
function sampleMatrix(): Matrix {
  const reports = [
    report(HOSTILE, 'tightgate', [
      result('web', '203.0.113.80', 443),
      result('ntp', '198.51.100.123', 123, {
        kind: 'ntp',
        target: { host: 'ntp', address: '198.51.100.123', port: 123, protocol: 'udp' },
        state: 'error',
        verdict: 'error',
        reason: 'cannot bind: EACCES <script>alert(2)</script>',
      }),
    ]),
    report('ws-01', 'workstation', [
      result('viewer', '198.51.100.10', 5900, {
        evidence: { tls: { protocol: 'TLSv1.3', subject: 'CN=tg <b>bold</b>' } },
      }),
      result('no-direct-internet', '203.0.113.80', 443, {
        expect: 'blocked',
        state: 'prohibited',
        verdict: 'pass',
        reason: 'rejected by 192.0.2.1: ICMP admin-prohibited after 0.4 ms',
        icmp: { type: 3, code: 13, from: '192.0.2.1' },
        control: 'tightgate',
      }),
    ]),
    report(
      'ws-02',
      'workstation',
      [
        result('viewer', '198.51.100.10', 5900, {
          state: 'filtered',
          verdict: 'fail',
          reason: 'no answer within 2 s (2 attempts): silently dropped',
        }),
        result('no-direct-internet', '203.0.113.99', 443, {
          expect: 'blocked',
          state: 'filtered',
          verdict: 'pass',
          reason: 'no answer within 2 s',
          control: 'tightgate',
        }),
      ],
      { finished_at: '2026-11-26T11:40:00.000Z' },
    ),
  ];
  const baseline = {
    [`${HOSTILE}|web`]: 'pass',
    'ws-01|viewer': 'fail',
    'ws-01|no-direct-internet': 'pass',
    'ws-02|viewer': 'fail',
    'ws-02|no-direct-internet': 'pass',
  };
  return buildMatrix(
    reports.map((r) => ({ report: r, received_at: r.finished_at })),
    { now: NOW, baseline },
  );
}

t.test('every value is escaped and the served page has no inline script or style', async (t) => {
  const html = renderMatrixHtml(sampleMatrix(), { refreshSeconds: 30 });
  t.notMatch(html, /<img/, 'the agent name is text, not an element');
  t.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  t.notMatch(html, /<script>alert/);
  t.notMatch(html, /<b>bold/);
  t.notMatch(html, /\sstyle=/i, 'no style attributes');
  t.notMatch(html, /<style/i, 'no style elements');
  const attributes = (html.match(/<[a-z][^>]*>/gi) ?? []).map((tag) => tag.replace(/"[^"]*"/g, '""'));
  t.same(
    attributes.filter((tag) => /\s(on[a-z]+|style)=/i.test(tag)),
    [],
    'no event handler or style attributes',
  );
  t.same(html.match(/<script[^>]*>/g), ['<script src="/assets/matrix.js" defer>'], 'one script, from a file');
  t.match(html, /<link rel="stylesheet" href="\/assets\/matrix.css">/);
  t.match(html, /<noscript><meta http-equiv="refresh" content="30"><\/noscript>/);
  t.match(html, /<body data-refresh="30">/);
  t.match(html, /lab &lt;&amp;&gt; &quot;hq&quot;/);
  t.match(html, /c0ffee/, 'profile hashes are on the page');
});

t.test("the page's assets are served by name only", async (t) => {
  t.match(matrixAsset('matrix.css'), { contentType: 'text/css; charset=utf-8' });
  t.match(matrixAsset('matrix.js'), { contentType: 'text/javascript; charset=utf-8' });
  t.equal(matrixAsset('../../package.json'), null);
  t.equal(matrixAsset('constructor'), null);
});

t.test('the offline page embeds its stylesheet and script, so one file can be handed over', async (t) => {
  const html = renderMatrixHtml(sampleMatrix(), { assets: 'inline' });
  t.match(html, /<style>\n[^<]*:root/);
  t.notMatch(html, /(href|src)="\/assets\//);
  t.notMatch(html, /<body data-refresh|http-equiv="refresh"/, 'no refresh unless asked for');
});

/** A static server like the coordinator's: the page at /, its files under /assets/, the CSP on every answer. */
async function serve(html: () => string): Promise<{ server: Server; url: string; pageLoads: () => number }> {
  let loads = 0;
  const server = createServer((request, response) => {
    const headers = { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' };
    if (request.url === '/') {
      loads += 1;
      response.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(html());
      return;
    }
    const asset = request.url?.startsWith('/assets/') ? matrixAsset(request.url.slice('/assets/'.length)) : null;
    if (asset) response.writeHead(200, { ...headers, 'content-type': asset.contentType }).end(asset.body);
    else response.writeHead(404, headers).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, pageLoads: () => loads };
}

/** Open a page that records CSP violations, console errors and dialogs. */
async function openPage(context: BrowserContext): Promise<{ page: Page; problems: string[]; dialogs: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || /Content.Security.Policy/i.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return { page, problems, dialogs };
}

const CHROMIUM = '/usr/bin/chromium';

t.test(
  "the page in headless Chromium under the coordinator's CSP",
  { skip: existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)` },
  async (t) => {
    const profile = mkdtempSync(join(tmpdir(), 'reachgate-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    t.teardown(async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    });
    // Violations are DOM events; an init script (run by the browser's debugging protocol, not the page) collects them.
    await context.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (event) =>
        seen.push(`${event.violatedDirective} ${event.blockedURI}`),
      );
    });
    const matrix = sampleMatrix();
    const site = await serve(() => renderMatrixHtml(matrix, { refreshSeconds: 600 }));
    t.teardown(() => new Promise<void>((resolve) => site.server.close(() => resolve())));

    t.test('the grid renders each verdict in its colour, with stale and drift marked', async (t) => {
      const { page, problems, dialogs } = await openPage(context);
      const response = await page.goto(site.url);
      t.equal(response?.headers()['content-security-policy'], CSP, 'the CSP header is present');
      const colours = await page.$$eval('td.cell[data-verdict]', (cells) =>
        cells.map((cell) => [
          cell.getAttribute('data-agent'),
          cell.getAttribute('data-row'),
          cell.getAttribute('data-verdict'),
          getComputedStyle(cell).backgroundColor,
        ]),
      );
      const byVerdict = new Map(colours.map(([, , verdict, colour]) => [verdict, colour]));
      t.same(Object.fromEntries(byVerdict), {
        pass: 'rgb(46, 125, 50)',
        error: 'rgb(106, 27, 154)',
        fail: 'rgb(198, 40, 40)',
        inconclusive: 'rgb(249, 168, 37)',
      });
      t.equal(colours.length, 6);
      t.same(
        colours.find(([agent, row]) => agent === 'ws-02' && row === 'no-direct-internet')?.[2],
        'inconclusive',
        'the control never saw 203.0.113.99 open',
      );
      t.equal(await page.locator('td.cell.stale').count(), 2, 'ws-02 is stale: both its cells are marked');
      const driftOutline = await page.$eval(
        'td.cell[data-agent="ws-01"][data-row="viewer"]',
        (cell) => getComputedStyle(cell).outlineStyle,
      );
      t.equal(driftOutline, 'dashed', 'the drifted cell (baseline fail, now pass) is outlined');
      t.match(await page.locator('.summary .drift-count').innerText(), /3\s+drift/);
      t.equal(await page.locator('svg.flow .node').count(), 2 + 4, 'the flow picture has a box per role and per row');
      t.equal(
        await page.$eval('svg.flow .node.v-error rect', (rect) => getComputedStyle(rect).fill),
        'rgb(106, 27, 154)',
      );
      t.same(
        await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations),
        [],
        'no CSP violation',
      );
      t.same(problems, [], 'no console errors');
      t.same(dialogs, []);
      const shot = await page.screenshot({ fullPage: true });
      t.equal(shot.subarray(1, 4).toString('latin1'), 'PNG', 'the whole page renders to a picture');
      await page.close();
    });

    t.test("clicking a cell opens its probes' reasons and evidence; Esc closes it", async (t) => {
      const { page, problems } = await openPage(context);
      await page.goto(site.url);
      const failing = page.locator('td.cell[data-agent="ws-02"][data-row="viewer"]');
      const panel = failing.locator('.evidence');
      t.equal(await panel.isVisible(), false);
      await failing.locator('summary').click();
      t.equal(await panel.isVisible(), true);
      t.match(await panel.innerText(), /no answer within 2 s \(2 attempts\): silently dropped/);
      const other = page.locator(`td.cell[data-agent="ws-01"][data-row="viewer"]`);
      await other.locator('summary').click({ position: { x: 5, y: 5 } });
      t.match(await other.locator('.evidence').innerText(), /CN=tg <b>bold<\/b>/, 'evidence shown as text');
      t.equal(await panel.isVisible(), false, 'opening one cell closes the other');
      await page.keyboard.press('Escape');
      t.equal(await other.locator('.evidence').isVisible(), false);
      const negative = page.locator('td.cell[data-agent="ws-01"][data-row="no-direct-internet"]');
      await negative.locator('summary').click();
      t.match(
        await negative.locator('.evidence').innerText(),
        /type 3 code 13 from 192\.0\.2\.1[\s\S]*target seen open by <img src=x onerror=alert\(1\)>/,
      );
      t.same(problems, []);
      await page.close();
    });

    t.test('an agent named like markup shows as text and runs nothing', async (t) => {
      const { page, dialogs } = await openPage(context);
      await page.goto(site.url);
      t.equal(await page.locator('th.agent').first().innerText(), HOSTILE);
      t.equal(await page.locator('img').count(), 0);
      await page.locator(`td.cell[data-row="ntp"] summary`).click();
      t.match(await page.locator('td.cell[data-row="ntp"] .evidence').innerText(), /<script>alert\(2\)<\/script>/);
      t.same(dialogs, [], 'no dialog fired');
      await page.close();
    });

    t.test('the page refreshes itself, but not while a reader has a cell open', async (t) => {
      const quick = await serve(() => renderMatrixHtml(matrix, { refreshSeconds: 1 }));
      t.teardown(() => new Promise<void>((resolve) => quick.server.close(() => resolve())));
      const { page } = await openPage(context);
      await page.addInitScript(() => {
        document.addEventListener('DOMContentLoaded', () => {
          document.querySelector('td.cell details')?.setAttribute('open', '');
        });
      });
      await page.goto(quick.url);
      await page.waitForTimeout(2500);
      t.equal(quick.pageLoads(), 1, 'held while a panel is open');
      await page.close();
      const idle = await openPage(context);
      await idle.page.goto(quick.url);
      await idle.page.waitForEvent('load', { timeout: 10_000 });
      t.ok(quick.pageLoads() >= 3, 'reloaded once idle');
      await idle.page.close();
    });

    t.test('the offline file works from disk: colours and panels without a server', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'reachgate-html-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'matrix.html');
      writeFileSync(file, renderMatrixHtml(matrix, { assets: 'inline' }));
      const { page, problems } = await openPage(context);
      await page.goto(pathToFileURL(file).href);
      t.equal(await page.$eval('td.cell.v-fail', (cell) => getComputedStyle(cell).backgroundColor), 'rgb(198, 40, 40)');
      await page.locator('td.cell.v-fail summary').first().click();
      await page.keyboard.press('Escape');
      t.equal(await page.locator('td.cell.v-fail .evidence').first().isVisible(), false, 'the embedded script runs');
      t.same(problems, []);
      await page.close();
    });
  },
);
