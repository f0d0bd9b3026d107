import t from 'tap';
import { encodeInSlices } from '../../src/coordinator/server.js';

t.test('a page in parts is encoded whole, in order, as UTF-8', async (t) => {
  const parts = ['<p>', 'caf\u00e9 \u2192 \u0394', '</p>\n'];
  const bytes = await encodeInSlices(parts);
  t.same(bytes, Buffer.from(parts.join(''), 'utf8'));
  t.equal((await encodeInSlices([])).length, 0);
});

t.test('other work runs between the slices of a page, before the page is done', async (t) => {
  const seen: string[] = [];
  function* parts(): Generator<string, void, undefined> {
    setImmediate(() => seen.push('other request'));
    seen.push('part 1');
    yield 'a';
    seen.push('part 2');
    yield 'b';
    seen.push('part 3');
    yield 'c';
  }
  // Slices of 0 ms: the event loop gets a turn after every part.
  const bytes = await encodeInSlices(parts(), 0);
  t.equal(bytes.toString(), 'abc');
  t.same(seen, ['part 1', 'other request', 'part 2', 'part 3']);
});
