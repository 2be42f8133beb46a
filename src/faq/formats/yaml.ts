/** Reader for YAML and JSON FAQ files. JSON is read by the YAML parser too (YAML is a superset of JSON). */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, YAMLMap } from 'yaml';
import type { FaqProblem } from '../../errors';
import { ENTRY_FIELDS, unknownName } from './shared';
import type { Located, RawEntry, ReaderResult } from './shared';

interface YamlContext {
  file: string;
  text: string;
  kind: 'yaml' | 'json';
  doc: Document;
  lines: LineCounter;
  problems: FaqProblem[];
}

function nodeLine(ctx: YamlContext, node: unknown, fallback: number): number {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? ctx.lines.linePos(range[0]).line : fallback;
}

function resolve(ctx: YamlContext, node: unknown): unknown {
  return isAlias(node) ? node.resolve(ctx.doc) : node;
}

function describe(value: unknown): string {
  if (isSeq(value)) return 'a list';
  if (isMap(value)) return 'a mapping';
  if (isScalar(value)) {
    if (typeof value.value === 'number') return 'a number';
    if (typeof value.value === 'boolean') return 'true/false';
    if (typeof value.value === 'string') return 'text';
  }
  return 'an unsupported value';
}

function quoteHint(ctx: YamlContext): string {
  return ctx.kind === 'json' ? 'write it as a "double-quoted" string' : 'put it in quotes';
}

/** A text field. Empty/null values come back as '' so the shared checks report them as empty. */
function readText(ctx: YamlContext, field: string, rawNode: unknown, keyLine: number): Located | null {
  const node = resolve(ctx, rawNode);
  const line = nodeLine(ctx, node, keyLine);
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) return { value: '', line, field };
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'string') return { value: v, line, field };
    if (field === 'id' && typeof v === 'number' && Number.isFinite(v)) return { value: String(v), line, field };
  }
  const what = describe(node);
  const hint = what === 'a list' || what === 'a mapping' ? 'write it as a single piece of text' : quoteHint(ctx);
  ctx.problems.push({ file: ctx.file, line, field, message: `is ${what}, not text; ${hint}` });
  return null;
}

/** A list-of-text field (alternates, tags). A missing/null value is an empty list. */
function readTextList(ctx: YamlContext, field: string, rawNode: unknown, keyLine: number): Located[] {
  const node = resolve(ctx, rawNode);
  const line = nodeLine(ctx, node, keyLine);
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) return [];
  if (!isSeq(node)) {
    const example = ctx.kind === 'json' ? `["first", "second"]` : `one "- text" line per item`;
    ctx.problems.push({
      file: ctx.file,
      line,
      field,
      message: `must be a list of text items, not ${describe(node)}; write it as ${example}`,
    });
    return [];
  }
  const out: Located[] = [];
  node.items.forEach((rawItem, index) => {
    const item = resolve(ctx, rawItem);
    const itemLine = nodeLine(ctx, item, line);
    if (item === null || item === undefined || (isScalar(item) && item.value === null)) {
      out.push({ value: '', line: itemLine, field, item: index + 1 });
    } else if (isScalar(item) && typeof item.value === 'string') {
      out.push({ value: item.value, line: itemLine, field, item: index + 1 });
    } else {
      ctx.problems.push({
        file: ctx.file,
        line: itemLine,
        field,
        message: `item ${index + 1} is ${describe(item)}, not text; ${quoteHint(ctx)}`,
      });
    }
  });
  return out;
}

function keyName(node: unknown): string | undefined {
  return isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')
    ? String(node.value)
    : undefined;
}

function readYamlEntry(ctx: YamlContext, map: YAMLMap, line: number): RawEntry {
  const entry: RawEntry = { line, id: undefined, question: undefined, answer: undefined, alternates: [], tags: [] };
  for (const pair of map.items) {
    const name = keyName(pair.key);
    const keyLine = nodeLine(ctx, pair.key, line);
    if (name === undefined) {
      ctx.problems.push({
        file: ctx.file,
        line: keyLine,
        field: null,
        message: `a field name must be plain text; use one of ${ENTRY_FIELDS.join(', ')}`,
      });
      continue;
    }
    switch (name) {
      case 'id':
      case 'question':
      case 'answer':
        entry[name] = readText(ctx, name, pair.value, keyLine);
        break;
      case 'alternates':
      case 'tags':
        entry[name] = readTextList(ctx, name, pair.value, keyLine);
        break;
      default:
        ctx.problems.push({ file: ctx.file, line: keyLine, field: name, message: unknownName(name, ENTRY_FIELDS, 'field') });
    }
  }
  return entry;
}

function syntaxProblem(ctx: YamlContext, offset: number, message: string, code?: string): FaqProblem {
  const { line, col } = ctx.lines.linePos(offset);
  if (code === 'DUPLICATE_KEY') {
    const token = /^\s*("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^:\n]+)/.exec(ctx.text.slice(offset, offset + 200))?.[1];
    const key = token === undefined ? '' : ` "${token.trim().replace(/^["']|["']$/g, '')}"`;
    return { file: ctx.file, line, field: null, message: `the key${key} appears twice in the same mapping; keep only one` };
  }
  const label = ctx.kind === 'json' ? 'JSON' : 'YAML';
  const hint =
    ctx.kind === 'json'
      ? 'fix the JSON there (a missing comma, quote or bracket is the usual cause)'
      : 'check the indentation there, and put text containing ": " or " #" in quotes';
  return { file: ctx.file, line, field: null, message: `${label} syntax error at column ${col}: ${message}; ${hint}` };
}

/** JSON.parse gives clearer messages than a YAML parser for broken JSON; use it to find the first error. */
function jsonSyntaxProblem(text: string, ctx: YamlContext): FaqProblem | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const m = /^(.*?) in JSON at position (\d+)/.exec(message);
    if (!m) return undefined;
    return syntaxProblem(ctx, Number(m[2]), m[1] ?? message);
  }
}

export function readYamlOrJson(text: string, file: string, kind: 'yaml' | 'json'): ReaderResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false }) as Document;
  const ctx: YamlContext = { file, text, kind, doc, lines, problems: [] };
  const entries: RawEntry[] = [];

  if (kind === 'json' && text.trim() !== '') {
    const problem = jsonSyntaxProblem(text, ctx);
    if (problem) return { entries, problems: [problem] };
  }
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => syntaxProblem(ctx, e.pos[0], e.message, e.code));
    return { entries, problems };
  }

  const root = resolve(ctx, doc.contents);
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) return { entries, problems: [] };

  let list: unknown;
  if (isSeq(root)) {
    list = root;
  } else if (isMap(root)) {
    let looksLikeEntry = false;
    for (const pair of root.items) {
      const name = keyName(pair.key);
      const keyLine = nodeLine(ctx, pair.key, 1);
      if (name === 'entries') {
        list = resolve(ctx, pair.value);
        if (list === null || (isScalar(list) && list.value === null)) return { entries, problems: ctx.problems };
        if (!isSeq(list)) {
          ctx.problems.push({
            file,
            line: nodeLine(ctx, list, keyLine),
            field: 'entries',
            message: `must be a list of entries, not ${describe(list)}`,
          });
          return { entries, problems: ctx.problems };
        }
      } else if (name !== undefined && (ENTRY_FIELDS as readonly string[]).includes(name)) {
        looksLikeEntry = true;
      } else {
        ctx.problems.push({
          file,
          line: keyLine,
          field: name ?? null,
          message: `${unknownName(name ?? '?', ['entries'], 'top-level key')}; the file must be a list of entries, or a mapping with an "entries" list`,
        });
      }
    }
    if (list === undefined) {
      if (looksLikeEntry) {
        const fix = kind === 'json' ? 'wrap it in [ ]' : 'start it with "- " and indent the other fields';
        ctx.problems.push({
          file,
          line: nodeLine(ctx, root, 1),
          field: null,
          message: `the top level is a single entry, not a list of entries; ${fix}`,
        });
      }
      return { entries, problems: ctx.problems };
    }
  } else {
    ctx.problems.push({
      file,
      line: nodeLine(ctx, root, 1),
      field: null,
      message: 'the top level must be a list of entries (each with id, question and answer), or a mapping with an "entries" list',
    });
    return { entries, problems: ctx.problems };
  }

  if (!isSeq(list)) return { entries, problems: ctx.problems };
  list.items.forEach((rawItem, index) => {
    const line = nodeLine(ctx, rawItem, 1);
    const item = resolve(ctx, rawItem);
    if (!isMap(item)) {
      ctx.problems.push({
        file,
        line,
        field: null,
        message: `entry ${index + 1} is ${describe(item)}, not a mapping; each entry needs the fields id, question and answer`,
      });
      return;
    }
    entries.push(readYamlEntry(ctx, item, line));
  });
  return { entries, problems: ctx.problems };
}
