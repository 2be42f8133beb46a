/** Reader for CSV FAQ files: a header row naming the columns, then one entry per row. */
import { parse as parseCsv } from 'csv-parse/sync';
import type { FaqProblem } from '../../errors';
import { unknownName } from './shared';
import type { Located, RawEntry, ReaderResult } from './shared';

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
