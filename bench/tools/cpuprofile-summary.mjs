// Summarise a V8 CPU profile (node --cpu-prof): time by category, then the top functions by self
// and by inclusive time. Used to find where reachgate's time goes, e.g.:
//
//   ip netns add rgprof && ip -n rgprof link set lo up
//   ip netns exec rgprof node --cpu-prof --cpu-prof-dir /tmp/prof bin/reachgate \
//       probe tcp 127.0.0.1:1-65535 --expect blocked --json > /dev/null
//   ip netns del rgprof
//   node bench/tools/cpuprofile-summary.mjs /tmp/prof/CPU.*.cpuprofile [TOP]
//
// Categories are assigned per sample, first matching rule wins (see RULES); the sampling profiler
// inflates wall time, so read the shares, not the absolute milliseconds.
import { readFileSync } from 'node:fs';

const [file, topText = '25'] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/tools/cpuprofile-summary.mjs FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
const top = Number(topText);
const profile = JSON.parse(readFileSync(file, 'utf8'));

const RULES = [
  ['idle', (stack) => stack[0].functionName === '(idle)'],
  ['garbage collector', (stack) => stack[0].functionName === '(garbage collector)'],
  [
    'module loading / start-up',
    (stack) => stack.some((f) => /modules\/esm|modules\/cjs|run_main|bootstrap/.test(f.url)),
  ],
  [
    'AbortController / AbortSignal / EventTarget',
    (stack) => stack.some((f) => /abort_controller|domexception|event_target/.test(f.url)),
  ],
  ['connect (binding + connect(2))', (stack) => stack[0].functionName === 'internalConnect'],
  ['close(2)', (stack) => stack[0].functionName === 'close' && stack[0].url === ''],
  ['getsockname (socket.localPort)', (stack) => stack.some((f) => f.functionName === 'Socket._getsockname')],
  [
    'errno Error objects',
    (stack) =>
      stack.some((f) => /ExceptionWithHostPort|uvException|errnoException|prepareStackTrace/i.test(f.functionName)),
  ],
  [
    'JSON + stdout',
    (stack) =>
      stack.some(
        (f) => /stringify/.test(f.functionName) || /writeGeneric|writeUtf8String|writeSync/.test(f.functionName),
      ),
  ],
  ['Node socket / stream life cycle', (stack) => stack.some((f) => /node:net|streams|node:events/.test(f.url))],
  ['timers', (stack) => stack.some((f) => /timers/.test(f.url))],
  ['reachgate JS (dist/)', (stack) => stack.some((f) => /\/dist\//.test(f.url))],
  ['other', () => true],
];

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const name = (frame) =>
  `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^file:\/\/.*?\/(node_modules\/[^/]+|dist)\//, '$1/')}:${frame.lineNumber + 1}`;

const categories = new Map();
const self = new Map();
const inclusive = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const delta = profile.timeDeltas[i] ?? 0;
  total += delta;
  const stack = [];
  for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) stack.push(byId.get(id).callFrame);
  const [category] = RULES.find(([, test]) => test(stack));
  categories.set(category, (categories.get(category) ?? 0) + delta);
  self.set(name(stack[0]), (self.get(name(stack[0])) ?? 0) + delta);
  for (const key of new Set(stack.map(name))) inclusive.set(key, (inclusive.get(key) ?? 0) + delta);
}

const print = (title, map, limit) => {
  process.stdout.write(`--- ${title}\n`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    process.stdout.write(
      `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}\n`,
    );
  }
};
process.stdout.write(`sampled ${(total / 1000).toFixed(0)} ms\n`);
print('by category', categories, RULES.length);
print('self time', self, top);
print('inclusive time', inclusive, top);
