import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BIN } from '../helpers/cli.js';
import { agentFiles, agentOnce, type AgentFiles, idOf, logLines, type Teardown } from './fleet.js';

/** What the stand-in for "the network between agent and coordinator" answers to a POST. */
type Mode = 'html-200' | 'other-id' | 'endless' | 'proxy-400' | 'proxy-400-json' | 'redirect' | 'coordinator';

/** Stop writing an endless body after this many bytes or this long, whatever the client does. */
const ENDLESS_CAP_BYTES = 256 * 1024 * 1024;
const ENDLESS_CAP_MS = 10_000;
const RSS_BOUND_KIB = 200 * 1024;

/** A loopback HTTP server that answers the agent's report POSTs the way a hostile network would. */
class Hostile {
  mode: Mode = 'html-200';
  /** Report ids posted, per mode, in arrival order. */
  readonly posts = new Map<Mode, string[]>();
  /** Bytes of endless body written, per response, and whether the client went away before the cap. */
  readonly endless: Array<{ bytes: number; clientLeft: boolean }> = [];
  /** Requests the redirect target received (it must get none: the agent follows no redirect). */
  readonly redirected: IncomingMessage[] = [];
  readonly stored: string[] = [];
  port = 0;
  elsewherePort = 0;
  readonly #servers: Server[] = [];

  static async start(t: Teardown): Promise<Hostile> {
    const hostile = new Hostile();
    hostile.port = await hostile.#listen(t, (request, response) => hostile.#answer(request, response));
    hostile.elsewherePort = await hostile.#listen(t, (request, response) => {
      hostile.redirected.push(request);
      request.resume();
      response.writeHead(201, { 'content-type': 'application/json' }).end('{}');
    });
    return hostile;
  }

  postsIn(mode: Mode): string[] {
    return this.posts.get(mode) ?? [];
  }

  #listen(t: Teardown, handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<number> {
    const server = createServer(handle);
    this.#servers.push(server);
    t.teardown(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    return new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    );
  }

  #answer(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 1024 * 1024) chunks.push(chunk);
    });
    request.on('end', () => {
      const id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }).id;
      const mode = this.mode;
      this.posts.set(mode, [...this.postsIn(mode), id]);
      const json = { 'content-type': 'application/json; charset=utf-8' };
      switch (mode) {
        case 'html-200':
          response
            .writeHead(200, { 'content-type': 'text/html' })
            .end('<html><head><title>Hotel WiFi</title></head><body>Please log in\u0000\u001b[31m</body></html>');
          return;
        case 'other-id':
          response.writeHead(201, json).end(JSON.stringify({ id: 'someone-else', stored: true, duplicate: false }));
          return;
        case 'endless':
          this.#endless(id, response);
          return;
        case 'proxy-400':
          response
            .writeHead(400, { 'content-type': 'text/html', server: 'squid' })
            .end('<html><body><h1>ERROR</h1>The requested URL could not be retrieved</body></html>');
          return;
        case 'proxy-400-json':
          response.writeHead(400, json).end(JSON.stringify({ error: 'Bad Request', status: 400 }));
          return;
        case 'redirect':
          response.writeHead(307, { location: `http://127.0.0.1:${this.elsewherePort}/api/v1/reports` }).end('moved');
          return;
        case 'coordinator':
          this.stored.push(id);
          response.writeHead(201, json).end(JSON.stringify({ id, stored: true, duplicate: false }));
      }
    });
  }

  /** 200, JSON that starts like an acknowledgement of this very report and never ends; stops when the client goes away or at the caps. */
  #endless(id: string, response: ServerResponse): void {
    const record = { bytes: 0, clientLeft: false };
    this.endless.push(record);
    const started = Date.now();
    const filler = Buffer.alloc(64 * 1024, 'x');
    let open = true;
    response.on('close', () => {
      if (open) record.clientLeft = true;
      open = false;
    });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write(`{"id":${JSON.stringify(id)},"stored":true,"duplicate":false,"padding":"`);
    const pump = (): void => {
      while (open) {
        if (record.bytes >= ENDLESS_CAP_BYTES || Date.now() - started > ENDLESS_CAP_MS) {
          open = false;
          response.destroy();
          return;
        }
        record.bytes += filler.length;
        if (!response.write(filler)) {
          response.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }
}

/** A long-running agent child, its stderr log lines and its peak RSS. */
interface AgentChild {
  child: ChildProcess;
  lines(): Array<Record<string, unknown> & { level: number; msg: string }>;
  /** VmHWM of the agent process (peak resident set), in KiB. */
  peakRssKib(): number;
}

function startAgent(t: Teardown, agent: AgentFiles): AgentChild {
  // Through env(1) without tap's loader, as a user runs it; env execs node, so the PID is the agent's.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, 'agent', '--config', agent.config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    lines: () =>
      stderr
        .slice(0, stderr.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown> & { level: number; msg: string }),
    peakRssKib: () => Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]),
  };
}

/** Wait until `ready()` holds, checking every 50 ms, for at most `ms`. */
async function until(ready: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    if (ready()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return ready();
}

t.test(
  'answers that are not the coordinator acknowledging the report keep it spooled, and the agent stays small',
  async (t) => {
    const hostile = await Hostile.start(t);
    const agent = await agentFiles(t, hostile.port, { interval: '60m', 'retry-min': '50ms', 'retry-max': '200ms' });
    const running = startAgent(t, agent);
    t.ok(await until(() => agent.spooled().length === 1, 15_000), 'the first cycle spooled a report');
    const [file] = agent.spooled();
    const reportId = idOf(file!);

    const cases: Array<[Mode, string, RegExp]> = [
      ['html-200', 'a captive portal answering 200 with HTML', /^"<html><head><title>Hotel WiFi.*\\x00\\x1b\[31m/],
      ['other-id', 'JSON 201 acknowledging another report id', /\\"someone-else\\"/],
      ['endless', 'a 200 JSON body that never ends', /^"\{\\"id\\":.*xxxx"\.\.\. \(4096 bytes\)$/],
      ['proxy-400', 'a proxy answering 400 with its HTML page', /could not be retrieved/],
      ['proxy-400-json', "a 400 with JSON that is not the coordinator's error", /Bad Request/],
      ['redirect', 'a 307 redirect to another server', /moved/],
    ];
    for (const [mode, what, shown] of cases) {
      hostile.mode = mode;
      const failuresBefore = running.lines().filter((line) => line.msg.startsWith('delivery failed')).length;
      // Two posts in this mode: the first one's answer has been judged (and logged) before the retry.
      t.ok(await until(() => hostile.postsIn(mode).length >= 2, 15_000), `${what}: the agent retries`);
      t.ok(
        await until(
          () => running.lines().filter((line) => line.msg.startsWith('delivery failed')).length > failuresBefore + 1,
          5000,
        ),
        `${what}: logged`,
      );
      t.same(hostile.postsIn(mode).slice(0, 2), [reportId, reportId], `${what}: the spooled report was posted`);
      t.same(
        agent.all().filter((name) => !name.startsWith('.')),
        [file],
        `${what}: the report is still spooled, not set aside`,
      );
      const failure = running
        .lines()
        .filter((line) => line.msg.startsWith('delivery failed'))
        .at(-1)!;
      t.match(
        failure,
        { level: 40, report_id: reportId, reply: { first_bytes: shown } },
        `${what}: the log shows what came back`,
      );
      t.ok(running.peakRssKib() < RSS_BOUND_KIB, `${what}: peak RSS ${running.peakRssKib()} KiB stays below 200 MiB`);
    }
    t.notOk(
      running.lines().some((line) => line.msg === 'report delivered'),
      'nothing was claimed as delivered',
    );
    t.match(
      running.lines().find((line) => line.msg.startsWith('delivery failed') && line.status === 200),
      {
        why: /HTTP 200, but not the coordinator's acknowledgement.*text\/html.*captive portal/,
        reply: { content_type: 'text/html' },
      },
    );
    t.ok(hostile.endless.length >= 1, 'the endless body was served');
    for (const served of hostile.endless) {
      t.ok(served.clientLeft, 'the agent hung up on the endless body');
      t.ok(
        served.bytes < 64 * 1024 * 1024,
        `it stopped reading early: ${served.bytes} bytes written before the hang-up`,
      );
    }
    t.equal(hostile.redirected.length, 0, 'the redirect was not followed');

    const second = await agentOnce(agent.config);
    t.equal(second.code, 2, 'a second agent on the same spool exits 2');
    t.match(second.stderr, `another agent (PID ${running.child.pid}) is using the spool directory ${agent.spool}`);
    t.match(second.stderr, /give each agent its own `spool` directory/);
    t.same(agent.spooled(), [file], "the second agent touched nothing: the first one's report is still there");
    t.equal(running.child.exitCode, null, 'the first agent runs on');

    hostile.mode = 'coordinator';
    t.ok(
      await until(() => agent.spooled().length === 0, 15_000),
      "the coordinator's own acknowledgement empties the spool",
    );
    t.same(hostile.stored, [reportId]);
    t.ok(await until(() => running.lines().some((line) => line.msg === 'report delivered'), 5000));
    t.match(
      running.lines().find((line) => line.msg === 'report delivered'),
      {
        report_id: reportId,
        status: 201,
        duplicate: false,
      },
    );
    t.ok(running.peakRssKib() < RSS_BOUND_KIB);
    running.child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      running.child.exitCode !== null ? resolve(running.child.exitCode) : running.child.once('exit', resolve),
    );
    t.equal(code, 0, 'the agent stops cleanly');
  },
);

t.test(
  'a report that cannot be written whole (file-size limit) is not claimed as spooled, and nothing half-written is sent',
  async (t) => {
    const hostile = await Hostile.start(t);
    hostile.mode = 'coordinator';
    const agent = await agentFiles(t, hostile.port);
    // RLIMIT_FSIZE of 1 KiB: Node ignores SIGXFSZ, so the write past it fails with EFBIG after a short write.
    const limited = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(
        'bash',
        [
          '-c',
          'ulimit -f 1; exec env -u NODE_OPTIONS "$0" "$@"',
          process.execPath,
          BIN,
          'agent',
          '--config',
          agent.config,
          '--once',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    t.equal(limited.code, 1, 'the run fails');
    const lines = logLines(limited.stderr);
    t.notOk(
      lines.some((line) => /spooled/.test(line.msg) && line.level < 50),
      'the report is not claimed as spooled',
    );
    t.match(
      lines.find((line) => line.level === 50),
      { msg: 'the report could not be spooled; this cycle is lost', code: 'EFBIG', why: /after 1024 of \d+ bytes/ },
    );
    t.same(agent.all(), [], 'no report, no temp file, no lock left');
    t.same(hostile.stored, [], 'nothing was sent');

    const whole = await agentOnce(agent.config);
    t.equal(whole.code, 0, 'without the limit the next run spools and delivers');
    t.equal(hostile.stored.length, 1, 'only the whole report of the second run arrived');
    t.match(
      logLines(whole.stderr).find((line) => line.msg === 'report delivered'),
      { report_id: hostile.stored[0] },
    );
  },
);
