import t from 'tap';
import { IN_PROCESS, printedJson, reachgate } from '../helpers/cli.js';
import { probeUsageError } from '../helpers/usage.js';
import type { RunReport } from '../../src/core/result.js';

// A bad `probe` command line fails before anything is sent, with a message that says what was wrong. The checks
// run in-process here, on the path the CLI takes; a few real CLI runs pin what a user sees: exit 2, the message on
// stderr, no stack trace, nothing on stdout. Loopback targets only: a probe that went out anyway stays on this host.
const refused: Array<[string, string[], RegExp]> = [
  [
    'a target without a port',
    ['tcp', '127.0.0.1'],
    /names no port, and tcp has no standard port[\s\S]*127\.0\.0\.1:PORT/,
  ],
  ['port 0', ['tcp', '127.0.0.1:0'], /Port 0 in `127\.0\.0\.1:0` is out of range[\s\S]*1 to 65535/],
  ['a port above 65535', ['tcp', '127.0.0.1:70000'], /Port 70000 .* out of range/],
  ['a backwards range', ['tcp', '127.0.0.1:90-80'], /runs backwards[\s\S]*8000-8100/],
  [
    'a timeout that is not a duration',
    ['tcp', '127.0.0.1:22', '--timeout', 'abc'],
    /`--timeout` option to be a duration like 2s or 500ms, got `abc`/,
  ],
  [
    'zero attempts',
    ['tcp', '127.0.0.1:22', '--attempts', '0'],
    /`--attempts` option to be a whole number from 1 to 20, got `0`/,
  ],
  [
    'a bad reply pattern',
    ['tcp', '127.0.0.1:22', '--expect-reply', '(unclosed'],
    /`--expect-reply` option to be a regular expression/,
  ],
  [
    'odd hex bytes',
    ['tcp', '127.0.0.1:22', '--send-hex', 'abc'],
    /`--send-hex` option to be pairs of hex digits, got `abc`/,
  ],
  [
    'send and send-hex together',
    ['tcp', '127.0.0.1:22', '--send', 'x', '--send-hex', '00'],
    /either `--send` or `--send-hex`/,
  ],
  [
    'a source that is not an address',
    ['tcp', '127.0.0.1:22', '--source', 'eth0'],
    /`--source` option to be an IP address, got `eth0`/,
  ],
  [
    'a CA file that does not exist',
    ['tcp', '127.0.0.1:22', '--tls', '--ca', '/nonexistent/ca.pem'],
    /Cannot read the `--ca` file `\/nonexistent\/ca\.pem`: ENOENT/,
  ],
  [
    'a resolver that is not an address',
    ['tcp', 'tg.test:22', '--resolver', 'dns.example'],
    /`--resolver` option to be an IP address/,
  ],
  ['a bad rate', ['tcp', '127.0.0.1:22', '--rate', 'fast'], /`--rate` option to be probes per second/],
];

t.test('a bad probe command line is refused with a message that says what was wrong', async (t) => {
  t.plan(refused.length);
  for (const [what, args, message] of refused) t.match(await probeUsageError(args), message, what);
});

// What yargs refuses (it never reaches the checks above), and one refusal of those checks, as a user sees them.
const printed: Array<[string, string[], RegExp]> = [
  [
    'a timeout that is not a duration',
    ['probe', 'tcp', '127.0.0.1:22', '--timeout', 'abc'],
    /^reachgate: Expected the `--timeout` option to be a duration/,
  ],
  [
    'an unknown probe kind',
    ['probe', 'carrier-pigeon', '127.0.0.1:22'],
    /Unknown probe kind `carrier-pigeon`[\s\S]*Known kinds: .*tcp/,
  ],
  ['an unknown flag', ['probe', 'tcp', '127.0.0.1:22', '--frobnicate'], /Unknown argument: frobnicate/],
  [
    'an unknown expectation',
    ['probe', 'tcp', '127.0.0.1:22', '--expect', 'maybe'],
    /Invalid values:[\s\S]*expect[\s\S]*maybe/,
  ],
  [
    'a flag without its value',
    ['probe', 'tcp', '127.0.0.1:1', '--attempts'],
    /Not enough arguments following: attempts/,
  ],
  ['no target at all', ['probe', 'tcp'], /Not enough non-option arguments/],
  ['no command', [], /Name a command/],
];

// Two run the binary (the probe bundle handing a command line to the whole CLI; the whole CLI alone), the rest the
// same command code in-process (test/helpers/cli-in-process.ts).
const throughBinary = (args: string[]): boolean => args === printed[0]![1] || args.length === 0;

for (const [what, args, message] of printed) {
  t.test(`${what} exits 2 with the message on stderr and nothing on stdout`, async (t) => {
    const run = await reachgate(args, throughBinary(args) ? {} : { via: IN_PROCESS });
    t.equal(run.code, 2, run.stderr);
    t.match(run.stderr, message);
    t.match(run.stderr, /Run `reachgate --help` for usage\.\n$/);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
    t.equal(run.stdout, '', 'nothing probed, nothing printed');
    // The in-process entry the other cases use prints and exits exactly as the binary does.
    if (throughBinary(args)) t.same(await reachgate(args, { via: IN_PROCESS }), run, 'in-process alike');
  });
}

t.test('--version prints the package version', async (t) => {
  const run = await reachgate(['--version']);
  t.equal(run.code, 0);
  t.match(run.stdout, /^\d+\.\d+\.\d+\n$/);
});

t.test('probe tcp --help shows the tcp options and examples', async (t) => {
  const run = await reachgate(['probe', 'tcp', '--help'], { via: IN_PROCESS });
  t.equal(run.code, 0);
  t.match(run.stdout, /--expect-reply/);
  t.match(run.stdout, /reachgate probe tcp 198\.51\.100\.10:5900 --tls/);
});

t.test('a plain probe command line runs on the fast parser and honours its flags', async (t) => {
  // Loopback only: nothing listens on port 1, so the answer is a reset.
  const fast = await reachgate([
    'probe',
    'tcp',
    '127.0.0.1:1',
    '--expect',
    'blocked',
    '--attempts',
    '2',
    '--timeout',
    '1s',
    '--json',
  ]);
  t.equal(fast.code, 0, fast.stderr);
  t.match(printedJson<RunReport>(fast).results[0], { state: 'closed', expect: 'blocked', attempts: 1 });
});
