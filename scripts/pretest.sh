#!/bin/sh
# npm test's pretest: build the sweep engine when its sources changed (native/), compile the tests into dist/ and
# bundle the CLI, and lint beside them (the lint reads the sources only, never dist/ or bundle/): eslint and
# Prettier's check (npm run lint's two halves) run as two jobs of their own, so the three share the machine's cores
# instead of the lint's halves running one after the other (on two cores the lint alone was the longest branch). Any
# failing fails the pretest, and so npm test, after all have finished and printed what they found.
# The tests compile against the sources' build (tsconfig.test.json references tsconfig.json): `tsc -b` rebuilds the
# sources only when one changed since their last build (npm run build, or an earlier npm test), so after `npm run
# build` (CI runs the demo first) only the tests are compiled, and of those (an incremental build) only what changed
# since the last npm test: nothing, ~1 s, where compiling dist/test/ afresh took ~14 s of CPU. First the compiled
# tests whose source is gone leave dist/test/ (scripts/prune-test-build.mjs): no test removed from test/ runs on from
# an old build.
node scripts/prune-test-build.mjs || exit 1
npm run --silent lint:code &
code=$!
npm run --silent lint:format &
format=$!
node scripts/build-native.mjs --optional --if-stale && node scripts/validators.mjs && tsc -b tsconfig.test.json &&
  node scripts/bundle.mjs
built=$?
wait "$code"
linted=$?
wait "$format"
formatted=$?
[ "$built" -eq 0 ] || echo "pretest: the compile or the bundle failed (exit $built)" >&2
[ "$linted" -eq 0 ] || echo "pretest: eslint failed (exit $linted): npm run lint" >&2
[ "$formatted" -eq 0 ] || echo "pretest: Prettier's check failed (exit $formatted): npm run format" >&2
[ "$built" -eq 0 ] && [ "$linted" -eq 0 ] && [ "$formatted" -eq 0 ]
