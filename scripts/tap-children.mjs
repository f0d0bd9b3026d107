// Loaded into every test process by npm test's runner (scripts/run-tests.mjs) and by tap's (package.json,
// tap.node-arg; there after tap's own loaders). Under tap's runner: the processes a test
// starts run as a user's would, without tap's process-info loader. tap puts that loader in NODE_OPTIONS and, through
// process-on-spawn, into the environment of every process a test spawns, even one given an environment without it, so
// every node child (CLI runs, lab listeners and services, responders) loaded it: a loader thread that every module
// load went through, and a record written at exit, for coverage tracking, which this suite does not use
// (tap.disable-coverage). The test process itself keeps it, as tap expects.
const spawnHook = globalThis[Symbol.for('process-on-spawn@*:singletonId')];
if (spawnHook && Array.isArray(spawnHook.listeners)) spawnHook.listeners = [];
if (process.env.NODE_OPTIONS) {
  // Tokens as node reads them: whitespace-separated, a double-quoted token may hold spaces (tap quotes its own).
  const tokens = process.env.NODE_OPTIONS.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  const kept = tokens.filter((token, index) => {
    const isLoader = (text) => text.includes('@tapjs/processinfo');
    if (isLoader(token)) return false;
    const flag = token.replace(/^"|"$/g, '');
    return !(/^--(import|loader|experimental-loader)$/.test(flag) && isLoader(tokens[index + 1] ?? ''));
  });
  if (kept.length > 0) process.env.NODE_OPTIONS = kept.join(' ');
  else delete process.env.NODE_OPTIONS;
}
// REACHGATE_TEST_CPU_LOG=<file>: each test process appends one line at exit, its file and the CPU seconds it and the
// children it waited for used (/proc/self/stat utime, stime, cutime, cstime), to find where the suite's time goes
// (scripts/test-cpu.mjs sums them).
if (process.env.REACHGATE_TEST_CPU_LOG) {
  const { appendFileSync, readFileSync } = await import('node:fs');
  const logFile = process.env.REACHGATE_TEST_CPU_LOG;
  delete process.env.REACHGATE_TEST_CPU_LOG;
  const started = Date.now();
  process.on('exit', () => {
    try {
      const stat = readFileSync('/proc/self/stat', 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = (index) => Number(fields[index - 3]) / 100;
      const line = {
        file: process.argv[1],
        wall: (Date.now() - started) / 1000,
        self: ticks(14) + ticks(15),
        children: ticks(16) + ticks(17),
      };
      appendFileSync(logFile, JSON.stringify(line) + '\n');
    } catch {
      // a measurement aid only
    }
  });
}
