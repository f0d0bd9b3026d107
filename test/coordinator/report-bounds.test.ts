import t from 'tap';
import { findBoundsProblem } from '../../src/coordinator/report-bounds.js';
import { EVIDENCE_DEPTH_MAX, EVIDENCE_SIZE_MAX, NAME_MAX, TEXT_MAX } from '../../src/coordinator/limits.js';

// The bounds check walks a parsed report once without allocating and works out a JSON Pointer (and an
// evidence's exact size) only where a bound may be broken: the answers must be those of the exact check.

const withEvidence = (evidence: unknown): unknown => ({ id: 'r', results: [{ id: 'a' }, { id: 'b', evidence }] });

/** A value nested `levels` objects deep (the value itself the first). */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < levels; level++) value = { a: value };
  return value;
}

t.test('evidence whose size could only be told by serializing it is measured exactly', async (t) => {
  // 3,000 quotes: six times as long escaped as the bound assumes for every character, twice as long in fact.
  t.equal(findBoundsProblem(withEvidence({ quoted: '"'.repeat(3000) })), null, 'under the limit once serialized');
  const numbers = Array.from({ length: 800 }, () => 1e20);
  const size = JSON.stringify({ numbers }).length;
  t.ok(size > EVIDENCE_SIZE_MAX, `numbers written short grow when serialized (${size})`);
  t.same(findBoundsProblem(withEvidence({ numbers })), {
    path: '/results/1/evidence',
    message: `must NOT be larger than ${EVIDENCE_SIZE_MAX} characters as JSON (it is ${size})`,
  });
  const fits = Array.from({ length: EVIDENCE_SIZE_MAX / 2 - 8 }, () => 0);
  t.equal(JSON.stringify({ fits }).length <= EVIDENCE_SIZE_MAX, true);
  t.equal(findBoundsProblem(withEvidence({ fits })), null, 'just under the limit');
});

t.test('evidence as deep as the limit passes and one level more is named by its path', async (t) => {
  t.equal(findBoundsProblem(withEvidence(nested(EVIDENCE_DEPTH_MAX))), null);
  t.same(findBoundsProblem(withEvidence(nested(EVIDENCE_DEPTH_MAX + 1))), {
    path: `/results/1/evidence${'/a'.repeat(EVIDENCE_DEPTH_MAX)}`,
    message: `nests deeper than ${EVIDENCE_DEPTH_MAX} levels of evidence`,
  });
  t.equal(findBoundsProblem(withEvidence([[[[[[[['deep in arrays']]]]]]]])), null, 'arrays count as levels too');
  t.ok(findBoundsProblem(withEvidence([[[[[[[[['one more']]]]]]]]])));
});

t.test('keys and strings at their limits pass and one character more is named by its path', async (t) => {
  const at = (value: unknown): unknown => ({ id: 'r', site: null, results: [{ id: 'a', target: { names: value } }] });
  t.equal(findBoundsProblem(at({ ['k'.repeat(NAME_MAX)]: 's'.repeat(TEXT_MAX) })), null);
  t.same(findBoundsProblem(at(['x', { ['k'.repeat(NAME_MAX + 1)]: 1 }])), {
    // A long key is cut short in the path (json-keys.ts escapeToken).
    path: `/results/0/target/names/1/${'k'.repeat(64)}…`,
    message: `has a key of more than ${NAME_MAX} characters`,
  });
  t.same(findBoundsProblem(at(['x', 's'.repeat(TEXT_MAX + 1)])), {
    path: '/results/0/target/names/1',
    message: `must NOT have more than ${TEXT_MAX} characters`,
  });
  t.same(findBoundsProblem('s'.repeat(TEXT_MAX + 1)), {
    path: '/',
    message: `must NOT have more than ${TEXT_MAX} characters`,
  });
});
