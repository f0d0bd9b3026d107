#!/bin/sh
# npm test's pretest: build the sweep engine when its sources changed (native/), compile sources and tests into
# dist/ and bundle the CLI, and lint beside them (the lint reads the sources only, never dist/ or bundle/), so the two
# share the machine's cores instead of running one after the other. Either failing fails the pretest, and so npm
# test, after both have finished and printed what they found.
rm -rf dist || exit 1
npm run --silent lint &
lint=$!
node scripts/build-native.mjs --optional --if-stale && node scripts/validators.mjs && tsc -p tsconfig.test.json &&
  node scripts/bundle.mjs
built=$?
wait "$lint"
linted=$?
[ "$built" -eq 0 ] || echo "pretest: the compile or the bundle failed (exit $built)" >&2
[ "$linted" -eq 0 ] || echo "pretest: the lint failed (exit $linted): npm run lint" >&2
[ "$built" -eq 0 ] && [ "$linted" -eq 0 ]
