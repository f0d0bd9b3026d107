import type { Story } from './story.js';

/** Columns the human form fits in. */
export const TEXT_WIDTH = 100;

/** A story as numbered steps for a terminal, every line at most {@link TEXT_WIDTH} columns. */
export function formatStory(story: Story): string {
  const who = [story.role ? `role ${story.role}` : undefined, story.site ? `site ${story.site}` : undefined]
    .filter(Boolean)
    .join(', ');
  const out = wrap(
    `Row ${story.row} of agent ${story.agent}${who ? ` (${who})` : ''}: ${story.verdict}` +
      `${story.reported_verdict ? ` (reported ${story.reported_verdict})` : ''}, from ${story.mode} ${story.from}`,
    '',
  );
  for (const step of story.steps) {
    out.push('', ...wrap(`${step.step}. ${step.title}`, ''));
    for (const line of step.lines) {
      const indent = /^ */.exec(line)![0].length;
      out.push(...wrap(line.trimStart(), ' '.repeat(3 + indent)));
    }
  }
  return `${out.join('\n')}\n`;
}

/** Break a line at spaces to fit the width; continuation lines are indented two more columns. */
function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = indent;
  let lead = indent;
  for (const word of text.split(' ')) {
    if (line.length > lead.length && line.length + 1 + word.length > TEXT_WIDTH) {
      lines.push(line);
      lead = `${indent}  `;
      line = lead;
    }
    line += line.length > lead.length ? ` ${word}` : word;
    // A word longer than the width on its own line is cut.
    while (line.length > TEXT_WIDTH) {
      lines.push(line.slice(0, TEXT_WIDTH));
      line = lead + line.slice(TEXT_WIDTH);
    }
  }
  lines.push(line);
  return lines;
}
