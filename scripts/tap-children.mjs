// Loaded into every test process by tap (package.json, tap.node-arg), after tap's own loaders: the processes a test
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
