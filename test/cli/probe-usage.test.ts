import t from 'tap';
import { reachgate } from '../helpers/cli.js';

// Every case here must fail before anything is sent: the targets are documentation addresses
// outside any namespace, so a probe that went out anyway would be a bug the exit code shows.
const cases: Array<[string, string[], RegExp]> = [
  ['a target without a port', ['probe', 'tcp', '198.51.100.10'], /names no port, and tcp has no standard port[\s\S]*198\.51\.100\.10:PORT/],
  ['port 0', ['probe', 'tcp', '198.51.100.10:0'], /Port 0 in `198\.51\.100\.10:0` is out of range[\s\S]*1 to 65535/],
  ['a port above 65535', ['probe', 'tcp', '198.51.100.10:70000'], /Port 70000 .* out of range/],
  ['a backwards range', ['probe', 'tcp', '198.51.100.10:90-80'], /runs backwards[\s\S]*8000-8100/],
  ['an unknown probe kind', ['probe', 'carrier-pigeon', '198.51.100.10:22'], /Unknown probe kind `carrier-pigeon`[\s\S]*Known kinds: .*tcp/],
  ['a timeout that is not a duration', ['probe', 'tcp', '198.51.100.10:22', '--timeout', 'abc'], /`--timeout` option to be a duration like 2s or 500ms, got `abc`/],
  ['an unknown flag', ['probe', 'tcp', '198.51.100.10:22', '--frobnicate'], /Unknown argument: frobnicate/],
  ['an unknown expectation', ['probe', 'tcp', '198.51.100.10:22', '--expect', 'maybe'], /Invalid values:[\s\S]*expect[\s\S]*maybe/],
  ['zero attempts', ['probe', 'tcp', '198.51.100.10:22', '--attempts', '0'], /`--attempts` option to be a whole number from 1 to 20, got `0`/],
  ['a bad reply pattern', ['probe', 'tcp', '198.51.100.10:22', '--expect-reply', '(unclosed'], /`--expect-reply` option to be a regular expression/],
  ['odd hex bytes', ['probe', 'tcp', '198.51.100.10:22', '--send-hex', 'abc'], /`--send-hex` option to be pairs of hex digits, got `abc`/],
  ['send and send-hex together', ['probe', 'tcp', '198.51.100.10:22', '--send', 'x', '--send-hex', '00'], /either `--send` or `--send-hex`/],
  ['a source that is not an address', ['probe', 'tcp', '198.51.100.10:22', '--source', 'eth0'], /`--source` option to be an IP address, got `eth0`/],
  ['a CA file that does not exist', ['probe', 'tcp', '198.51.100.10:22', '--tls', '--ca', '/nonexistent/ca.pem'], /Cannot read the `--ca` file `\/nonexistent\/ca\.pem`: ENOENT/],
  ['a resolver that is not an address', ['probe', 'tcp', 'tg.test:22', '--resolver', 'dns.example'], /`--resolver` option to be an IP address/],
  ['a bad rate', ['probe', 'tcp', '198.51.100.10:22', '--rate', 'fast'], /`--rate` option to be probes per second/],
  ['no target at all', ['probe', 'tcp'], /Not enough non-option arguments/],
  ['no command', [], /Name a command/],
];

for (const [what, args, message] of cases) {
  t.test(`${what} exits 2 with a message that says what was wrong`, async (t) => {
    const run = await reachgate(args);
    t.equal(run.code, 2, run.stderr);
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
    t.equal(run.stdout, '', 'nothing probed, nothing printed');
  });
}

t.test('--version prints the package version', async (t) => {
  const run = await reachgate(['--version']);
  t.equal(run.code, 0);
  t.match(run.stdout, /^\d+\.\d+\.\d+\n$/);
});

t.test('probe tcp --help shows the tcp options and examples', async (t) => {
  const run = await reachgate(['probe', 'tcp', '--help']);
  t.equal(run.code, 0);
  t.match(run.stdout, /--expect-reply/);
  t.match(run.stdout, /reachgate probe tcp 198\.51\.100\.10:5900 --tls/);
});

t.test('a plain probe command line runs on the fast parser and honours its flags', async (t) => {
  // Loopback only: nothing listens on port 1, so the answer is a reset.
  const fast = await reachgate(['probe', 'tcp', '127.0.0.1:1', '--expect', 'blocked', '--attempts', '2', '--timeout', '1s', '--json']);
  t.equal(fast.code, 0, fast.stderr);
  const report = JSON.parse(fast.stdout) as { results: Array<{ state: string; attempts: number; expect: string }> };
  t.match(report.results[0], { state: 'closed', expect: 'blocked', attempts: 1 });
});

t.test('a flag the fast parser cannot place falls back to yargs and its message', async (t) => {
  const run = await reachgate(['probe', 'tcp', '127.0.0.1:1', '--attempts']);
  t.equal(run.code, 2);
  t.match(run.stderr, /Not enough arguments following: attempts/);
});
