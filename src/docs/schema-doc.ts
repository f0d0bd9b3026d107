import { anchor, code, table, text, value } from './markdown.js';

/** A JSON Schema (draft-07) node, as far as the reference needs it. */
export interface SchemaNode {
  $id?: string;
  $ref?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
  uniqueItems?: boolean;
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean | SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  definitions?: Record<string, SchemaNode>;
}

/** Where a reference comes from, for its title and its "do not edit" line. */
export interface ReferenceSource {
  /** The schema file, relative to the package root. */
  schemaFile: string;
  /** One line saying what a file of this kind is for and where an example lives. */
  intro: string;
}

/** An object whose keys get their own section: the root, or a nested object or list entry. */
interface Section {
  heading: string;
  path: string;
  node: SchemaNode;
}

// Durations share one pattern in every schema; its rule reads better in words.
const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m)?$';

/** The Markdown reference of a JSON Schema: every key with its type, default, allowed values and description. */
export function schemaReference(schema: SchemaNode, source: ReferenceSource): string {
  const sections: Section[] = [{ heading: 'Top level', path: '', node: schema }];
  const parts: string[] = [];
  // Rendering a section queues the nested objects it links to, so the list grows while it is walked.
  for (let i = 0; i < sections.length; i++) parts.push(renderSection(sections[i]!, schema, sections));
  const head = [
    `# ${schema.title ?? source.schemaFile}`,
    '',
    `<!-- Generated from ${source.schemaFile} by \`reachgate docs --out docs\`; edit the schema, not this file. -->`,
    '',
    text(schema.description ?? ''),
    '',
    source.intro,
    '',
    `Schema: [${source.schemaFile}](../${source.schemaFile}). Editors that speak the YAML language server complete and check a file that starts with`,
    `\`# yaml-language-server: $schema=<path to ${source.schemaFile.split('/').pop()}>\`.`,
    '',
    'Contents: ' + sections.map((section) => `[${section.heading}](#${anchor(section.heading)})`).join(' · '),
    '',
  ];
  return `${[...head, ...parts].join('\n').trimEnd()}\n`;
}

function renderSection(section: Section, root: SchemaNode, sections: Section[]): string {
  const { node } = section;
  const required = new Set(node.required ?? []);
  const rows = Object.entries(node.properties ?? {}).map(([key, raw]) => {
    const child = resolve(raw, root);
    const path = section.path === '' ? key : `${section.path}.${key}`;
    const nested = nestedSection(key, path, child, root);
    if (nested) sections.push(nested);
    const description = [child.description, itemDescription(child, root)]
      .filter(Boolean)
      .map((part) => text(part as string))
      .concat(nested ? [`See [${nested.heading}](#${anchor(nested.heading)}).`] : [])
      .join(' ');
    return [
      code(key),
      typeOf(child, root),
      required.has(key) ? 'yes' : 'no',
      child.default === undefined ? '' : value(child.default),
      allowed(child, root),
      description,
    ];
  });
  const lines = [`## ${section.heading}`, ''];
  if (section.path !== '' && section.node.description) lines.push(text(section.node.description), '');
  if (section.node.additionalProperties === false) lines.push('No other keys are allowed.', '');
  lines.push(table(['key', 'type', 'required', 'default', 'allowed values', 'description'], rows));
  return lines.join('\n');
}

/** A nested object, or a list of objects, gets its own section. */
function nestedSection(key: string, path: string, node: SchemaNode, root: SchemaNode): Section | null {
  if (node.properties) return { heading: path, path, node };
  const items = node.items ? resolve(node.items, root) : undefined;
  if (items?.properties) return { heading: `${path} entries`, path: `${path}[]`, node: items };
  return null;
}

/** Follow a local `$ref`; the referring node's own description wins over the definition's. */
function resolve(node: SchemaNode, root: SchemaNode): SchemaNode {
  if (!node.$ref) return node;
  const name = /^#\/definitions\/(.+)$/.exec(node.$ref)?.[1];
  const target = name === undefined ? undefined : root.definitions?.[name];
  if (!target) throw new Error(`schema reference ${node.$ref} does not name a definition`);
  const { $ref: _ref, ...own } = node;
  return { ...resolve(target, root), ...own };
}

function branches(node: SchemaNode): SchemaNode[] | undefined {
  return node.anyOf ?? node.oneOf;
}

function typeOf(raw: SchemaNode, root: SchemaNode): string {
  const node = resolve(raw, root);
  const alternatives = branches(node);
  if (alternatives) return [...new Set(alternatives.map((branch) => typeOf(branch, root)))].join(' or ');
  if (node.enum)
    return [...new Set(node.enum.map((value) => (Number.isInteger(value) ? 'integer' : typeof value)))].join(' or ');
  const type = Array.isArray(node.type) ? node.type.join(' or ') : node.type;
  if (type === 'array') return node.items ? `list of ${typeOf(node.items, root)}` : 'list';
  if (type === 'object' && !node.properties) return 'mapping';
  return type ?? 'any';
}

/** What values are allowed, in words: enum values, ranges, patterns, lengths. */
function allowed(raw: SchemaNode, root: SchemaNode): string {
  const node = resolve(raw, root);
  const alternatives = branches(node);
  if (alternatives) {
    const each = alternatives.map((branch) => {
      const rule = allowed(branch, root);
      return rule === '' ? `any ${typeOf(branch, root)}` : `${typeOf(branch, root)}: ${rule}`;
    });
    return each.join('; or ');
  }
  const rules: string[] = [];
  if (node.enum) rules.push(`one of ${node.enum.map((value) => code(String(value))).join(', ')}`);
  if (node.minimum !== undefined && node.maximum !== undefined) rules.push(`${node.minimum} to ${node.maximum}`);
  else if (node.minimum !== undefined) rules.push(`at least ${node.minimum}`);
  else if (node.maximum !== undefined) rules.push(`at most ${node.maximum}`);
  if (node.minLength !== undefined && node.minLength > 0) rules.push('not empty');
  if (node.pattern === DURATION_PATTERN)
    rules.push('a duration: a number with `ms`, `s` or `m` (e.g. `500ms`, `2s`, `5m`); a bare number is seconds');
  else if (node.pattern !== undefined) rules.push(`matches ${code(node.pattern)}`);
  if (node.minItems !== undefined && node.minItems > 0)
    rules.push(`at least ${node.minItems} ${node.minItems === 1 ? 'entry' : 'entries'}`);
  if (node.uniqueItems) rules.push('no duplicates');
  if (node.items) {
    const items = resolve(node.items, root);
    const rule = items.properties ? '' : allowed(items, root);
    if (rule !== '') rules.push(`each ${rule}`);
  }
  return rules.join('; ');
}

/** The description of a list's items, when they have one of their own. */
function itemDescription(node: SchemaNode, root: SchemaNode): string | undefined {
  if (!node.items) return undefined;
  const items = resolve(node.items, root);
  if (items.properties || !items.description) return undefined;
  // "An IP address" reads on as "each entry: an IP address"; an acronym keeps its capital.
  const description = /^[A-Z][a-z]/.test(items.description)
    ? items.description[0]!.toLowerCase() + items.description.slice(1)
    : items.description;
  return `Each entry: ${description}`;
}

/** Keys without a description, as dotted paths: a reference should leave none. */
export function undocumentedKeys(schema: SchemaNode): string[] {
  const missing: string[] = [];
  const visit = (node: SchemaNode, path: string): void => {
    for (const [key, raw] of Object.entries(node.properties ?? {})) {
      const child = resolve(raw, schema);
      const at = path === '' ? key : `${path}.${key}`;
      if (!child.description) missing.push(at);
      if (child.properties) visit(child, at);
      const items = child.items ? resolve(child.items, schema) : undefined;
      if (items?.properties) visit(items, `${at}[]`);
    }
  };
  visit(schema, '');
  return missing;
}
