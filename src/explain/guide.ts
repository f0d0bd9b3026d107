import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.js';
import type { State } from '../core/result.js';

// The troubleshooting guide (docs/troubleshooting.md) is the one place that says what a result means and what to run
// next. `explain` quotes it rather than keeping advice of its own: a result is matched to the guide's section for its
// state, and within it to the item whose quoted reason reads like the result's reason.

/** Where the guide is, relative to the package. */
export const GUIDE_PATH = join('docs', 'troubleshooting.md');
/** The guide is read to this many characters at most. */
const GUIDE_MAX = 512 * 1024;

/** The sections `explain` points at: heading as written, and its anchor. */
export const GUIDE_SECTIONS = {
  checks: { heading: 'Checks that fail on an open port', anchor: 'checks-that-fail-on-an-open-port' },
  control: { heading: 'inconclusive in the matrix', anchor: 'inconclusive-in-the-matrix' },
} as const;

/** One bullet or paragraph of a section, as plain text lines (a list inside it keeps its own lines). */
export interface GuideItem {
  lines: string[];
  /** Its inline code spans: quoted reasons, commands. */
  quotes: string[];
  /** A list item rather than a paragraph. */
  bullet: boolean;
}

/** One section of the guide. */
export interface GuideSection {
  heading: string;
  anchor: string;
  items: GuideItem[];
}

/** The guide's "States at a glance" row of a state. */
export interface GlanceRow {
  cameBack: string;
  causes: string;
  next: string;
}

/** The guide, parsed. */
export interface Guide {
  sections: Map<string, GuideSection>;
  glance: Map<string, GlanceRow>;
}

/** Advice from the guide for one kind of outcome. */
export interface Advice {
  /** `docs/troubleshooting.md#filtered` */
  section: string;
  /** The glance table's causes and next command, for a state. */
  glance?: GlanceRow;
  /** The item whose quoted reason matches, or every item of a section that is a list of causes. */
  items: string[][];
}

/** Read the installed guide; null when it is not there (a copy without docs/). */
export function readGuide(root: string = PACKAGE_ROOT): Guide | null {
  let text: string;
  try {
    text = readFileSync(join(root, GUIDE_PATH), 'utf8').slice(0, GUIDE_MAX);
  } catch {
    return null;
  }
  return parseGuide(text);
}

/** Parse the guide's sections (## and ###), their items, and the glance table. */
export function parseGuide(text: string): Guide {
  const sections = new Map<string, GuideSection>();
  const glance = new Map<string, GlanceRow>();
  let section: GuideSection | undefined;
  let item: GuideItem | undefined;
  const close = (): void => {
    if (item && section && item.lines.length > 0) section.items.push(item);
    item = undefined;
  };
  for (const line of text.split('\n')) {
    const heading = /^#{2,3} (.+)$/.exec(line);
    if (heading) {
      close();
      section = { heading: heading[1]!, anchor: anchorOf(heading[1]!), items: [] };
      sections.set(section.heading, section);
      continue;
    }
    const row = /^\| `([a-z]+)` \| (.+?) \| (.+?) \| (.+?) \|$/.exec(line);
    if (row) {
      glance.set(row[1]!, { cameBack: plain(row[2]!), causes: plain(row[3]!), next: plain(row[4]!) });
      continue;
    }
    if (line.trim() === '' || line.startsWith('|')) {
      close();
      continue;
    }
    if (line.startsWith('- ') || !item) {
      close();
      item = { lines: [], quotes: [], bullet: line.startsWith('- ') };
    }
    const body = line.replace(/^- /, '').trim();
    const listed = /^\d+\. |^- /.test(body);
    if (listed || item.lines.length === 0) item.lines.push(body);
    else item.lines[item.lines.length - 1] += ` ${body}`;
  }
  close();
  for (const { items } of sections.values()) {
    for (const entry of items) {
      entry.quotes = [...entry.lines.join(' ').matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
      entry.lines = entry.lines.map(plain);
    }
  }
  return { sections, glance };
}

/** Markdown to plain text: code spans, emphasis and links lose their marks. */
function plain(markdown: string): string {
  return markdown
    .replace(/ ?\(\[[^\]]+\]\([^)]+\)\)/g, '')
    .replace(/\[([^\]]+)\]\([^)]+\)/g, '$1')
    .replace(/\*\*([^*]+)\*\*/g, '$1')
    .replace(/`([^`]+)`/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The anchor GitHub gives a heading. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

/** The least of a quoted reason that must match for its item to be chosen. */
const MATCH_MIN = 16;

/** Reasons with their varying parts (addresses, numbers, times, placeholders) made equal. */
function normalize(text: string): string {
  return text
    .replace(/\b(ADDRESS|HOST|NAME|PORT|TARGET|RESOLVER|CANARY|N)\b/g, '#')
    .replace(/[0-9a-f]*:[0-9a-f:]+:[0-9a-f.:]*|\d+(?:[.:/]\d+)*/gi, '#')
    .replace(/\b(attempt|round)s\b/g, '$1')
    .replace(/\s+/g, ' ');
}

/**
 * How much of a quoted reason reads like the reason: characters of its parts (split at `...`) found in order,
 * the last part as far as it goes. 0 when less than {@link MATCH_MIN} (or the whole quote, if shorter) matched.
 */
export function matchScore(quote: string, reason: string): number {
  const text = normalize(reason);
  const parts = normalize(quote)
    .split(/\.\.\.|…/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  const whole = parts.reduce((sum, part) => sum + part.length, 0);
  let score = 0;
  let from = 0;
  for (const part of parts) {
    const best = bestPrefixAt(part, text, from);
    score += best.length;
    if (best.length < part.length) break;
    from = best.end;
  }
  return score >= Math.min(MATCH_MIN, whole) ? score : 0;
}

/** The longest prefix of `part` found in `text` at or after `from`, and where it ends. */
function bestPrefixAt(part: string, text: string, from: number): { length: number; end: number } {
  let best = { length: 0, end: from };
  const head = part.slice(0, Math.min(8, part.length));
  for (let at = text.indexOf(head, from); at >= 0; at = text.indexOf(head, at + 1)) {
    let length = head.length;
    while (length < part.length && text[at + length] === part[length]) length += 1;
    if (length > best.length) best = { length, end: at + length };
    if (length === part.length) break;
  }
  return best;
}

/** The item of a section that best matches any of the texts, or undefined. */
function bestItem(section: GuideSection, texts: readonly string[]): GuideItem | undefined {
  let best: { item: GuideItem; score: number } | undefined;
  for (const item of section.items) {
    for (const quote of item.quotes) {
      if (quote.startsWith('reachgate ')) continue;
      for (const text of texts) {
        const score = matchScore(quote, text);
        if (score > (best?.score ?? 0)) best = { item, score };
      }
    }
  }
  return best?.item;
}

/** What the guide says about a state and reason: its section, the glance row, and the item that quotes this reason. */
export function adviceFor(guide: Guide, state: State, reason: string): Advice {
  const section = guide.sections.get(state);
  const item = section ? bestItem(section, [reason]) : undefined;
  return {
    section: `${GUIDE_PATH}#${section?.anchor ?? state}`,
    ...(guide.glance.has(state) ? { glance: guide.glance.get(state)! } : {}),
    items: item ? [item.lines] : [],
  };
}

/** What the guide says about an open port whose application check failed. */
export function checkAdvice(guide: Guide, detail: string, reason: string): Advice {
  const section = guide.sections.get(GUIDE_SECTIONS.checks.heading);
  const item = section ? bestItem(section, [detail, reason]) : undefined;
  return { section: `${GUIDE_PATH}#${GUIDE_SECTIONS.checks.anchor}`, items: item ? [item.lines] : [] };
}

/** What the guide says about a block its control did not prove: each cause it lists. */
export function controlAdvice(guide: Guide): Advice {
  const section = guide.sections.get(GUIDE_SECTIONS.control.heading);
  return {
    section: `${GUIDE_PATH}#${GUIDE_SECTIONS.control.anchor}`,
    items: (section?.items ?? []).filter((item) => item.bullet).map((item) => item.lines),
  };
}
