#!/bin/sh
# npm test's pretest: build the sweep engine when its sources changed (native/), the JSON-schema validators, the
# sources when one changed since their last build (`tsc -b tsconfig.json`: after `npm run build`, as in CI after the
# demo, nothing to do), then the tests into dist/test/ and tap as one file for them (scripts/build-tests.mjs: esbuild,
# under a second) and the CLI bundle. First the compiled tests whose source is gone leave dist/test/
# (scripts/prune-test-build.mjs): no test removed from test/ runs on from an old build.
# The tests' type-check, eslint and Prettier's check are not here: npm test's runner runs them beside the test files
# (scripts/run-tests.mjs --check), where they use the cores the tests leave idle. Here they were the pretest's longest
# part, before the first test could start: ~50 s of CPU in a fresh clone (no eslint or Prettier cache, no incremental
# compile yet), ~25 s of a 2-core machine's time.
node scripts/prune-test-build.mjs &&
  node scripts/build-native.mjs --optional --if-stale &&
  node scripts/validators.mjs &&
  tsc -b tsconfig.json &&
  node scripts/build-tests.mjs &&
  node scripts/bundle.mjs
