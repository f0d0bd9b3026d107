/** Text for one Markdown table cell: pipes escaped, line breaks folded. */
export function cell(text: string): string {
  return text
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\|/g, '\\|')
    .trim();
}

/** Plain text for Markdown: backslashes and angle brackets stay literal. */
export function text(plain: string): string {
  return plain.replace(/\\/g, '\\\\').replace(/</g, '&lt;');
}

/** A default or example value as YAML shows it: strings bare, everything else as JSON. */
export function value(data: unknown): string {
  return code(typeof data === 'string' && data !== '' ? data : JSON.stringify(data));
}

/** Inline code that survives a table cell; backticks inside are rare in our schemas and would end the span. */
export function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

/** A Markdown table; every cell goes through cell(). */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const lines = [header, header.map(() => '---'), ...rows].map((row) => `| ${row.map(cell).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

/** The anchor GitHub gives a heading, for links inside one generated file. */
export function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

/** The first line where two texts differ (1-based) with both versions of it, or null when they are equal. */
export function firstDifference(
  expected: string,
  actual: string,
): { line: number; expected: string; actual: string } | null {
  if (expected === actual) return null;
  const want = expected.split('\n');
  const have = actual.split('\n');
  for (let i = 0; i < Math.max(want.length, have.length); i++) {
    if (want[i] !== have[i])
      return { line: i + 1, expected: want[i] ?? '(end of file)', actual: have[i] ?? '(end of file)' };
  }
  return null;
}
