import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

// npm test's runner (scripts/run-tests.mjs) runs test files as plain node processes and sums their TAP into tap's
// summary line, which .ci/run reads for its pass/fail/skip counts: a wrong sum would hide a failure or a skip in CI.

const RUNNER = join(PACKAGE_ROOT, 'scripts/run-tests.mjs');

function runner(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [RUNNER, ...args], { cwd: PACKAGE_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const FILES = {
  'passes.test.js': [
    "import t from 'tap';",
    "t.ok(true, 'one');",
    "t.test('a subtest', async (t) => { t.ok(true, 'two'); t.ok(true, 'three'); });",
  ].join('\n'),
  'fails.test.js': ["import t from 'tap';", "t.ok(true, 'fine');", "t.equal(1, 2, 'one is not two');"].join('\n'),
  'skips.test.js': ["import t from 'tap';", "t.test('needs root', { skip: 'not running as root' }, () => {});"].join(
    '\n',
  ),
};

t.test("the runner sums every file's results into tap's summary line and exits 1 when one fails", async (t) => {
  const dir = t.testdir(FILES);
  const run = runner(['--jobs', '2', dir]);
  t.equal(run.code, 1, run.stderr);
  t.match(run.stdout, /^# \{ total: 6, pass: 4, fail: 1, skip: 1 \}$/m, 'the summary line .ci/run reads');
  t.match(run.stdout, /^not ok \d+ - \S*fails\.test\.js/m);
  t.match(run.stdout, /^ok \d+ - \S*passes\.test\.js # time=\S+ 3\/3$/m);
  t.match(run.stdout, /^# SKIP \S*skips\.test\.js: needs root # not running as root$/m, 'a skip says why');
  t.match(run.stdout, /^    not ok 2 - one is not two$/m, "the failing file's own output, indented");
  t.match(run.stdout, /failed: one is not two/);
  t.match(run.stdout, /^# FAILED \S*fails\.test\.js$/m);
});

t.test('a passing run exits 0 and prints only total and pass', async (t) => {
  const dir = t.testdir({ 'passes.test.js': FILES['passes.test.js'] });
  const run = runner([dir]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^# \{ total: 3, pass: 3 \}$/m);
});

t.test('a --check command runs beside the files and counts as one test; a failing one shows its output', async (t) => {
  const dir = t.testdir({ 'passes.test.js': FILES['passes.test.js'] });
  const run = runner(['--check', 'echo checked', '--check', 'echo broken >&2; exit 3', dir]);
  t.equal(run.code, 1, run.stderr);
  t.match(run.stdout, /^# 1 test files, \d+ at a time and 2 checks beside them$/m);
  t.match(run.stdout, /^ok \d+ - check: echo checked # time=\S+ 1\/1$/m);
  t.match(run.stdout, /^not ok \d+ - check: echo broken >&2; exit 3 # time=\S+ 0\/1$/m);
  t.match(run.stdout, /^ {4}broken$/m, "the failing check's output, indented");
  t.match(run.stdout, /^ {4}# check: echo broken >&2; exit 3: exit code 3$/m);
  t.match(run.stdout, /^# \{ total: 5, pass: 4, fail: 1 \}$/m, 'each check one test in the summary line');
});

t.test("a check is timed from when a slot falls idle, and then gets the test files' priority back", async (t) => {
  // One slot, a 5 s timeout. The file (plain TAP, without tap's own timeout) waits until the check has started,
  // then 6 s, then marks its end; the check ends 1 s after that mark. Timed from its own start the check would time
  // out at 5 s whatever the load; timed from the file's end it has 5 s for its last second. No other timing counts.
  const dir = t.testdir({});
  const started = join(dir, 'check-started');
  const done = join(dir, 'file-done');
  const waits = [
    "import { existsSync, writeFileSync } from 'node:fs';",
    'const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));',
    `for (let i = 0; i < 300 && !existsSync(${JSON.stringify(started)}); i++) await sleep(100);`,
    'await sleep(6000);',
    `writeFileSync(${JSON.stringify(done)}, '');`,
    "console.log('TAP version 14\\nok 1 - waited\\n1..1');",
  ].join('\n');
  writeFileSync(join(dir, 'waits.test.js'), waits);
  // As root the runner lowers the check's niceness again (nice(1) raised it by 10); without root it cannot.
  const lowered = process.getuid?.() === 0 ? '[ "$(nice)" -lt "$before" ]' : 'true';
  const check = [
    `before=$(nice); touch ${started}`,
    `i=0; while [ ! -e ${done} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`,
    `sleep 1; ${lowered}`,
  ].join('; ');
  const run = runner(['--jobs', '1', '--timeout', '5', '--grace', '30', '--check', check, dir]);
  t.equal(run.code, 0, run.stdout);
  t.match(run.stdout, /^ok \d+ - \S*waits\.test\.js # time=\S+ 1\/1$/m);
  t.match(run.stdout, /^ok \d+ - check: before=.* # time=\S+ 1\/1$/m);
});

t.test('a file that ends without any result, or before its tests finished, fails', async (t) => {
  const dir = t.testdir({
    'silent.test.js': "console.log('no TAP here');",
    'unfinished.test.js': "import t from 'tap';\nt.test('never settles', () => new Promise(() => {}));",
  });
  const run = runner([dir]);
  t.equal(run.code, 1, run.stderr);
  t.match(run.stdout, /silent\.test\.js: printed no test result/);
  t.match(run.stdout, /unfinished\.test\.js: exit code 1; failed: never settles > test unfinished/);
  t.match(run.stdout, /^# \{ total: 1, pass: 0, fail: 1 \}$/m);
});

t.test('a file still running past its timeout is ended and fails', async (t) => {
  // Kept alive by its timer past tap's own timeout, which the runner sets from --timeout.
  const hangs = "import t from 'tap';\nt.test('waits forever', () => new Promise(() => setInterval(() => {}, 100)));";
  const dir = t.testdir({ 'hangs.test.js': hangs });
  const run = runner(['--timeout', '1', '--grace', '1', dir]);
  t.equal(run.code, 1, run.stderr);
  // Whether tap's own timeout has failed it by then depends on how fast the machine started it.
  t.match(run.stdout, /hangs\.test\.js: timed out after 1 s; ended by SIGTERM/);
  t.match(run.stdout, /^# \{ total: [01], pass: 0(, fail: 1)? \}$/m);
});

t.test('a wrong option or path is a usage error naming it', async (t) => {
  const flag = runner(['--jobz', '2']);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /unknown option --jobz/);
  const jobs = runner(['--jobs', 'x']);
  t.equal(jobs.code, 2);
  t.match(jobs.stderr, /--jobs takes a whole number of at least 1, not x/);
  t.match(runner(['--check']).stderr, /--check takes a command/);
  const missing = runner(['dist/no-such-tests']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /no such file or directory: dist\/no-such-tests/);
});
