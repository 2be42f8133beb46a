/**
 * FAQ files → validated FaqRecords. `loadFaqFiles` is all-or-nothing: it reads and checks every file, and either
 * returns every record or throws one FaqValidationError listing every problem (sorted by file, then line).
 * The per-format readers are in formats/ (yaml.ts, csv.ts, tsv.ts; shared.ts for their common types); the rules
 * shared by all formats are here.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FaqValidationError, KvcacheError } from '../errors';
import type { FaqProblem } from '../errors';
import { readCsv } from './formats/csv';
import type { Located, RawEntry, ReaderResult } from './formats/shared';
import { readTsv } from './formats/tsv';
import { readYamlOrJson } from './formats/yaml';

export interface FaqRecord {
  id: string;
  question: string;
  answer: string;
  alternates: string[];
  tags: string[];
  file: string;
  /** 1-based line where the entry starts. */
  line: number;
}

export type FaqFormat = 'yaml' | 'json' | 'csv' | 'tsv';

export const FAQ_LIMITS = {
  questionChars: 2000,
  /** Slack's message limit. */
  answerChars: 40000,
  /** QnA Maker's limit on alternate questions per entry. */
  alternates: 300,
  fileBytes: 50 * 1024 * 1024,
} as const;

export const FAQ_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const EXTENSIONS: Record<string, FaqFormat> = {
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.json': 'json',
  '.csv': 'csv',
  '.tsv': 'tsv',
};

/** The format a file's extension names, or a problem saying which extensions are supported. */
export function detectFormat(file: string): FaqFormat | FaqProblem {
  const ext = path.extname(file).toLowerCase();
  const format = EXTENSIONS[ext];
  if (format !== undefined) return format;
  const what = ext === '' ? 'has no file extension' : `has the unsupported extension "${ext}"`;
  return {
    file,
    line: null,
    field: null,
    message: `${what}; FAQ files must end in ${Object.keys(EXTENSIONS).join(', ')} (rename it to say its format)`,
  };
}

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function tooBig(file: string, bytes: number): FaqProblem {
  return {
    file,
    line: null,
    field: null,
    message: `is ${megabytes(bytes)}; the limit is ${FAQ_LIMITS.fileBytes / (1024 * 1024)} MB per file — split it into several files`,
  };
}

// ------------------------------------------------------------------------------------ shared entry rules

function problemAt(file: string, at: Located, message: string): FaqProblem {
  const prefix = at.item === undefined ? '' : `item ${at.item} `;
  return { file, line: at.line, field: at.field, message: `${prefix}${message}` };
}

function lengthProblem(file: string, at: Located, length: number, limit: number, fix = 'shorten it'): FaqProblem {
  return problemAt(file, at, `is ${length} characters long; the limit is ${limit} — ${fix}`);
}

/** Applies the rules every format shares; returns null (with problems pushed) when the entry is unusable. */
function buildRecord(raw: RawEntry, file: string, problems: FaqProblem[]): FaqRecord | null {
  const before = problems.length;
  const missing = (field: string, what: string): void => {
    problems.push({ file, line: raw.line, field, message: `is missing; add ${what} to this entry` });
  };

  let id = '';
  if (raw.id === undefined) missing('id', 'a unique id such as "returns-policy"');
  else if (raw.id !== null) {
    id = raw.id.value.trim();
    if (id === '') problems.push(problemAt(file, raw.id, 'is empty; give the entry a unique id such as "returns-policy"'));
    else if (!FAQ_ID_PATTERN.test(id)) {
      problems.push(
        problemAt(
          file,
          raw.id,
          `"${id.length > 60 ? id.slice(0, 60) + '…' : id}" is not a valid id; ids must match ${FAQ_ID_PATTERN.source} ` +
            '(a letter or digit, then up to 127 letters, digits, ".", "_", ":" or "-"; no spaces)',
        ),
      );
    }
  }

  let question = '';
  if (raw.question === undefined) missing('question', 'the question customers ask');
  else if (raw.question !== null) {
    question = raw.question.value.trim();
    if (question === '') problems.push(problemAt(file, raw.question, 'is empty; write the question text or remove the entry'));
    else if (question.length > FAQ_LIMITS.questionChars) {
      problems.push(lengthProblem(file, raw.question, question.length, FAQ_LIMITS.questionChars));
    }
  }

  let answer = '';
  if (raw.answer === undefined) missing('answer', 'the answer text');
  else if (raw.answer !== null) {
    answer = raw.answer.value.trim();
    if (answer === '') problems.push(problemAt(file, raw.answer, 'is empty; write the answer text or remove the entry'));
    else if (answer.length > FAQ_LIMITS.answerChars) {
      problems.push(
        lengthProblem(
          file,
          raw.answer,
          answer.length,
          FAQ_LIMITS.answerChars,
          "Slack's message limit; shorten it or split it into several entries",
        ),
      );
    }
  }

  // Alternates: trimmed; exact repeats of the question or of an earlier alternate are dropped silently.
  const alternates: string[] = [];
  const seen = new Set<string>([question]);
  for (const alt of raw.alternates) {
    const text = alt.value.trim();
    if (text === '') {
      problems.push(problemAt(file, alt, 'is empty; write the alternate phrasing or remove it'));
    } else if (text.length > FAQ_LIMITS.questionChars) {
      problems.push(lengthProblem(file, alt, text.length, FAQ_LIMITS.questionChars));
    } else if (!seen.has(text)) {
      seen.add(text);
      alternates.push(text);
    }
  }
  if (alternates.length > FAQ_LIMITS.alternates) {
    problems.push({
      file,
      line: raw.line,
      field: raw.alternates[0]?.field ?? 'alternates',
      message: `has ${alternates.length} alternates; the limit is ${FAQ_LIMITS.alternates} per entry — keep the most common phrasings`,
    });
  }

  const tags: string[] = [];
  for (const tag of raw.tags) {
    const text = tag.value.trim();
    if (text === '') problems.push(problemAt(file, tag, 'is empty; write the tag or remove it'));
    else if (!tags.includes(text)) tags.push(text);
  }

  if (problems.length > before) return null;
  return { id, question, answer, alternates, tags, file, line: raw.line };
}

/** Parses one file's text. Pure: no I/O, no cross-file checks (see findDuplicateIds). */
export function parseFaqText(
  text: string,
  file: string,
  format: FaqFormat,
): { records: FaqRecord[]; problems: FaqProblem[] } {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > FAQ_LIMITS.fileBytes) return { records: [], problems: [tooBig(file, bytes)] };
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;

  const bad = body.indexOf('\uFFFD');
  if (bad >= 0) {
    const line = body.slice(0, bad).split('\n').length;
    return { records: [], problems: [{ file, line, field: null, message: 'is not valid UTF-8; save the file as UTF-8' }] };
  }

  let read: ReaderResult;
  switch (format) {
    case 'yaml':
    case 'json':
      read = readYamlOrJson(body, file, format);
      break;
    case 'csv':
      read = readCsv(body, file);
      break;
    case 'tsv':
      read = readTsv(body, file);
      break;
  }

  const problems = [...read.problems];
  if (read.entries.length === 0 && problems.length === 0) {
    problems.push({ file, line: null, field: null, message: `no FAQ entries in ${file}; add at least one entry` });
  }
  const records: FaqRecord[] = [];
  for (const raw of read.entries) {
    const record = buildRecord(raw, file, problems);
    if (record) records.push(record);
  }
  return { records, problems };
}

/** One problem per repeated id, at the later entry, naming where the id was first used. */
export function findDuplicateIds(records: FaqRecord[]): FaqProblem[] {
  const first = new Map<string, FaqRecord>();
  const problems: FaqProblem[] = [];
  for (const record of records) {
    const earlier = first.get(record.id);
    if (earlier === undefined) {
      first.set(record.id, record);
      continue;
    }
    const derived =
      /^qna-[0-9a-f]{12}$/.test(record.id) && path.extname(record.file).toLowerCase() === '.tsv'
        ? ' (TSV ids without a QnaId column come from the question text, so the same question has two different answers; merge them)'
        : '';
    problems.push({
      file: record.file,
      line: record.line,
      field: 'id',
      message: `"${record.id}" is also the id of the entry at ${earlier.file}:${earlier.line}; ids must be unique across all FAQ files — rename one of them${derived}`,
    });
  }
  return problems;
}

/** Sorted by file, then line (file-level problems first), keeping the found order otherwise. */
export function sortProblems(problems: FaqProblem[]): FaqProblem[] {
  return [...problems].sort((a, b) => {
    if (a.file !== b.file) return a.file < b.file ? -1 : 1;
    return (a.line ?? 0) - (b.line ?? 0);
  });
}

function osReason(err: unknown): { code: string; reason: string } {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? 'EUNKNOWN';
  const m = /^[A-Z]+: ([^,]+)/.exec(e.message ?? '');
  return { code, reason: m?.[1] ?? e.message ?? String(err) };
}

function unreadable(file: string, err: unknown): FaqProblem {
  const { code, reason } = osReason(err);
  const advice =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? 'check the path (it is relative to the directory you run kvcache from)'
      : code === 'EACCES' || code === 'EPERM'
        ? 'make the file readable by the user that runs kvcache'
        : 'check the file and try again';
  return { file, line: null, field: null, message: `cannot read the file: ${reason} (${code}); ${advice}` };
}

async function loadOne(file: string): Promise<{ records: FaqRecord[]; problems: FaqProblem[] }> {
  const format = detectFormat(file);
  if (typeof format !== 'string') return { records: [], problems: [format] };
  let buffer: Buffer;
  try {
    const stat = await fs.stat(file);
    if (stat.isDirectory()) {
      return {
        records: [],
        problems: [{ file, line: null, field: null, message: 'is a directory; pass the FAQ files inside it instead' }],
      };
    }
    if (stat.size > FAQ_LIMITS.fileBytes) return { records: [], problems: [tooBig(file, stat.size)] };
    buffer = await fs.readFile(file);
  } catch (err) {
    return { records: [], problems: [unreadable(file, err)] };
  }
  if ((buffer[0] === 0xff && buffer[1] === 0xfe) || (buffer[0] === 0xfe && buffer[1] === 0xff)) {
    return {
      records: [],
      problems: [{ file, line: null, field: null, message: 'is not valid UTF-8 (it is UTF-16); save the file as UTF-8' }],
    };
  }
  return parseFaqText(new TextDecoder('utf-8').decode(buffer), file, format);
}

/**
 * Reads, parses and validates every file. Returns all records, or throws one FaqValidationError with every
 * problem in every file — never a partial result.
 */
export async function loadFaqFiles(paths: string[]): Promise<FaqRecord[]> {
  if (paths.length === 0) {
    throw new KvcacheError('USAGE', 'no FAQ files given; pass one or more .yaml, .yml, .json, .csv or .tsv files');
  }
  const problems: FaqProblem[] = [];
  const unique: string[] = [];
  const seen = new Set<string>();
  for (const file of paths) {
    const key = path.resolve(file);
    if (seen.has(key)) {
      problems.push({ file, line: null, field: null, message: 'is given more than once; pass each file once' });
    } else {
      seen.add(key);
      unique.push(file);
    }
  }
  const results = await Promise.all(unique.map(loadOne));
  const records: FaqRecord[] = [];
  for (const result of results) {
    records.push(...result.records);
    problems.push(...result.problems);
  }
  problems.push(...findDuplicateIds(records));
  if (problems.length > 0) throw new FaqValidationError(sortProblems(problems));
  return records;
}
