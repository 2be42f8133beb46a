/**
 * Per-format FAQ readers. Each reader turns file text into RawEntry values (strings plus the line each came
 * from) and reports format-level problems (syntax, wrong types, unknown fields, bad headers). Content rules
 * shared by every format (ids, emptiness, limits, de-duplication) live in parse.ts.
 */
import { createHash } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, YAMLMap } from 'yaml';
import type { FaqProblem } from '../errors';

/** A string value and where it came from. `item` is the 1-based position inside a list field. */
export interface Located {
  value: string;
  line: number;
  field: string;
  item?: number;
}

/**
 * One entry as read from a file, before the shared checks. A required field is `undefined` when the entry
 * does not have it and `null` when it has it but the reader already reported it as unusable.
 */
export interface RawEntry {
  line: number;
  id: Located | null | undefined;
  question: Located | null | undefined;
  answer: Located | null | undefined;
  alternates: Located[];
  tags: Located[];
  /** True when the id was computed from the question text (TSV without a QnaId column). */
  idDerived?: boolean;
}

export interface ReaderResult {
  entries: RawEntry[];
  problems: FaqProblem[];
}

export const ENTRY_FIELDS = ['id', 'question', 'answer', 'alternates', 'tags'] as const;

// ---------------------------------------------------------------------------------------------- helpers

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The known name closest to `name` (case-insensitively), when it is close enough to be a likely typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.trim().toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = levenshtein(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const allowed = Math.max(2, Math.floor(lower.length / 3));
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}

function unknownName(name: string, known: readonly string[], what: string): string {
  const guess = closestName(name, known);
  const hint = guess === undefined ? '' : ` did you mean "${guess}"?`;
  return `is not a known ${what};${hint} known ${what}s: ${known.join(', ')}`;
}

// ----------------------------------------------------------------------------------------- YAML and JSON

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

// ------------------------------------------------------------------------------------------------- CSV

const CSV_COLUMNS = ['id', 'question', 'answer', 'alternates', 'tags'] as const;
const CSV_REQUIRED = ['id', 'question', 'answer'] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];

interface CsvRow {
  cells: string[];
  line: number;
}

function splitList(cell: string, line: number, field: string): Located[] {
  return cell
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((value) => ({ value, line, field }));
}

export function readCsv(text: string, file: string): ReaderResult {
  const problems: FaqProblem[] = [];
  const entries: RawEntry[] = [];
  const rows: CsvRow[] = [];
  let prevEnd = 0;
  let prevEmpty = 0;
  try {
    parseCsv(text.replace(/\r\n/g, '\n'), {
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      on_record: (record: string[], ctx) => {
        // ctx.lines is the line the record ends on; its first line follows the previous record and any
        // skipped empty lines.
        const line = prevEnd + 1 + (ctx.empty_lines - prevEmpty);
        prevEnd = ctx.lines;
        prevEmpty = ctx.empty_lines;
        rows.push({ cells: record, line });
        return null;
      },
    });
  } catch (err) {
    const e = err as { code?: string; message?: string; lines?: number };
    const start = prevEnd + 1;
    const message =
      e.code === 'CSV_QUOTE_NOT_CLOSED'
        ? `a quoted field starting on line ${start} is never closed; add the closing double quote (")`
        : `CSV syntax error: ${e.message ?? String(err)}; inside a quoted field write a double quote as ""`;
    problems.push({ file, line: e.code === 'CSV_QUOTE_NOT_CLOSED' ? start : (e.lines ?? start), field: null, message });
  }

  const header = rows[0];
  if (header === undefined) return { entries, problems };

  const names = header.cells.map((c) => c.trim().toLowerCase());
  const columns = new Map<CsvColumn, number>();
  let headerOk = true;
  if (!names.some((n) => (CSV_REQUIRED as readonly string[]).includes(n))) {
    problems.push({
      file,
      line: header.line,
      field: null,
      message: `the first line must be a header row naming the columns, e.g. "id,question,answer,alternates,tags"`,
    });
    return { entries, problems };
  }
  names.forEach((name, index) => {
    const original = header.cells[index]?.trim() ?? name;
    if ((CSV_COLUMNS as readonly string[]).includes(name)) {
      const column = name as CsvColumn;
      if (columns.has(column)) {
        problems.push({ file, line: header.line, field: original, message: 'column appears twice in the header; keep only one' });
        headerOk = false;
      } else {
        columns.set(column, index);
      }
    } else {
      problems.push({ file, line: header.line, field: original || `column ${index + 1}`, message: unknownName(original, CSV_COLUMNS, 'column') });
    }
  });
  for (const required of CSV_REQUIRED) {
    if (!columns.has(required)) {
      problems.push({ file, line: header.line, field: required, message: 'column is missing from the header row; add it' });
      headerOk = false;
    }
  }
  if (!headerOk) return { entries, problems };

  const cell = (row: CsvRow, column: CsvColumn): string | undefined => {
    const index = columns.get(column);
    return index === undefined ? undefined : row.cells[index];
  };
  for (const row of rows.slice(1)) {
    if (row.cells.every((c) => c.trim() === '')) continue;
    if (row.cells.length !== header.cells.length) {
      const fix =
        row.cells.length > header.cells.length
          ? 'put double quotes around text that contains commas'
          : 'every row needs a value (possibly empty) for each column';
      problems.push({
        file,
        line: row.line,
        field: null,
        message: `has ${row.cells.length} fields but the header has ${header.cells.length}; ${fix}`,
      });
      continue;
    }
    const text = (column: CsvColumn): Located => ({ value: cell(row, column) ?? '', line: row.line, field: column });
    entries.push({
      line: row.line,
      id: text('id'),
      question: text('question'),
      answer: text('answer'),
      alternates: splitList(cell(row, 'alternates') ?? '', row.line, 'alternates'),
      tags: splitList(cell(row, 'tags') ?? '', row.line, 'tags'),
    });
  }
  return { entries, problems };
}

// ------------------------------------------------------------------------------------------------- TSV

/** Columns of a QnA Maker / Azure custom question answering TSV export (canonical spelling). */
const TSV_COLUMNS = [
  'Question',
  'Answer',
  'Source',
  'Metadata',
  'SuggestedQuestions',
  'IsContextOnly',
  'Prompts',
  'QnaId',
  'SourceDisplayName',
] as const;
type TsvColumn = (typeof TSV_COLUMNS)[number];

/** `qna-` + the first 12 hex digits of sha256 of the trimmed, lower-cased question. */
export function derivedQnaId(question: string): string {
  return 'qna-' + createHash('sha256').update(question.trim().toLowerCase(), 'utf8').digest('hex').slice(0, 12);
}

interface TsvGroup {
  entry: RawEntry;
  answer: string;
  answerLine: number;
  tagSet: Set<string>;
}

export function readTsv(text: string, file: string): ReaderResult {
  const problems: FaqProblem[] = [];
  const entries: RawEntry[] = [];
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length > 0 && (lines[lines.length - 1] ?? '').trim() === '') lines.pop();
  const headerText = lines[0];
  if (headerText === undefined) return { entries, problems };

  const headerCells = headerText.split('\t').map((c) => c.trim());
  const columns = new Map<TsvColumn, number>();
  let headerOk = true;
  headerCells.forEach((name, index) => {
    const known = TSV_COLUMNS.find((c) => c.toLowerCase() === name.toLowerCase());
    if (known === undefined) {
      problems.push({ file, line: 1, field: name || `column ${index + 1}`, message: unknownName(name, TSV_COLUMNS, 'column') });
    } else if (columns.has(known)) {
      problems.push({ file, line: 1, field: known, message: 'column appears twice in the header; keep only one' });
      headerOk = false;
    } else {
      columns.set(known, index);
    }
  });
  if (!columns.has('Question') && !columns.has('Answer')) {
    return {
      entries,
      problems: [
        {
          file,
          line: 1,
          field: null,
          message: 'the first line must be the header row "Question<TAB>Answer<TAB>Source<TAB>Metadata" (a QnA Maker export)',
        },
      ],
    };
  }
  for (const required of ['Question', 'Answer'] as const) {
    if (!columns.has(required)) {
      problems.push({ file, line: 1, field: required, message: 'column is missing from the header row; add it' });
      headerOk = false;
    }
  }
  if (!headerOk) return { entries, problems };

  const groups = new Map<string, TsvGroup>();
  lines.slice(1).forEach((rowText, index) => {
    const line = index + 2;
    if (rowText.trim() === '') return;
    const cells = rowText.split('\t');
    if (cells.length !== headerCells.length) {
      problems.push({
        file,
        line,
        field: null,
        message: `has ${cells.length} tab-separated fields but the header has ${headerCells.length}; fields cannot contain tabs, and every row needs one field per column`,
      });
      return;
    }
    const get = (column: TsvColumn): string => {
      const i = columns.get(column);
      return i === undefined ? '' : (cells[i] ?? '').trim();
    };
    const question = get('Question');
    const answer = get('Answer').replace(/\\r\\n|\\n/g, '\n').trim();
    if (question === '') {
      problems.push({ file, line, field: 'Question', message: 'is empty; write the question or delete the row' });
    }
    if (answer === '') {
      problems.push({ file, line, field: 'Answer', message: 'is empty; write the answer text or delete the row' });
    }
    if (question === '' || answer === '') return;

    const qnaId = get('QnaId');
    const key = qnaId !== '' ? `id\u0000${qnaId}` : `text\u0000${answer}\u0000${get('Source')}`;
    const tags = get('Metadata')
      .split('|')
      .map((pair) => {
        const colon = pair.indexOf(':');
        return colon < 0 ? pair.trim() : `${pair.slice(0, colon).trim()}:${pair.slice(colon + 1).trim()}`;
      })
      .filter((t) => t !== '' && t !== ':');

    let group = groups.get(key);
    if (group === undefined) {
      const id: Located =
        qnaId !== ''
          ? { value: `qna-${qnaId}`, line, field: 'QnaId' }
          : { value: derivedQnaId(question), line, field: 'Question' };
      group = {
        entry: {
          line,
          id,
          question: { value: question, line, field: 'Question' },
          answer: { value: answer, line, field: 'Answer' },
          alternates: [],
          tags: [],
          idDerived: qnaId === '',
        },
        answer,
        answerLine: line,
        tagSet: new Set(),
      };
      groups.set(key, group);
      entries.push(group.entry);
    } else {
      if (answer !== group.answer) {
        problems.push({
          file,
          line,
          field: 'Answer',
          message: `differs from the answer on line ${group.answerLine}, which has the same QnaId ${qnaId}; rows with the same QnaId must have the same answer`,
        });
        return;
      }
      group.entry.alternates.push({ value: question, line, field: 'Question' });
    }
    for (const tag of tags) {
      if (!group.tagSet.has(tag)) {
        group.tagSet.add(tag);
        group.entry.tags.push({ value: tag, line, field: 'Metadata' });
      }
    }
  });
  return { entries, problems };
}
