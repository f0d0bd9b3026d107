import t from 'tap';
import { MAX_JSON_DEPTH, parseJson } from '../../src/coordinator/server.js';

/** The error code and path parseJson refuses `text` with, or the value it returns. */
function outcome(text: string): unknown {
  try {
    return { value: parseJson(text) };
  } catch (error) {
    const { error: code, details } = error as { error: string; details: Record<string, unknown> };
    return { refused: code, ...details };
  }
}

t.test('a repeated key is found wherever it is, and only a repeated key', async (t) => {
  t.same(outcome('{"a" : 1, "b":{"c":"x\\":y","c":2}}'), { refused: 'duplicate_key', path: '/b/c' }, 'space, quote');
  t.same(outcome('{"a":"\\\\","a":1}'), { refused: 'duplicate_key', path: '/a' }, 'a string ending in backslashes');
  t.same(outcome('{"__proto__":1,"__proto__":2}'), { refused: 'duplicate_key', path: '/__proto__' });
  t.same(outcome('[{"a":1},{"b":[{"c":1,"d":{"c":2,"c":3}}]}]'), { refused: 'duplicate_key', path: '/1/b/0/d/c' });
  t.same(outcome('{"x":"a:b","y":"\\"c\\":","z":{"x":1}}'), { value: { x: 'a:b', y: '"c":', z: { x: 1 } } });
  t.same(outcome('[{"a":1},{"a":1}]'), { value: [{ a: 1 }, { a: 1 }] }, 'equal keys in different objects');
  t.same(outcome('{\n  "a": [\n    1\n  ],\n  "b": "\\u0061"\n}'), { value: { a: [1], b: 'a' } }, 'spaced and escaped');
  t.same(outcome('"text"'), { value: 'text' });
});

t.test('too deep, malformed and empty bodies are refused before or by the parser', async (t) => {
  const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
  t.same(outcome(deep(MAX_JSON_DEPTH)), { value: JSON.parse(deep(MAX_JSON_DEPTH)) as unknown });
  t.same(outcome(deep(MAX_JSON_DEPTH + 1)), { refused: 'json_too_deep' });
  // The outer object and MAX_JSON_DEPTH - 1 nested ones: at the limit, and brackets inside a string do not count.
  const nested = `{"a":"[[[","n":${'{"b":'.repeat(MAX_JSON_DEPTH - 1)}1${'}'.repeat(MAX_JSON_DEPTH - 1)}}`;
  t.same(outcome(nested), { value: JSON.parse(nested) as unknown }, 'brackets inside strings do not count');
  t.same(outcome(`[${nested}]`), { refused: 'json_too_deep' }, 'one level more is refused');
  t.same(outcome('{"a":1'), { refused: 'malformed_json' });
  t.same(outcome('{"a":"unterminated'), { refused: 'malformed_json' });
  t.same(outcome(''), { refused: 'bad_request' });
});
