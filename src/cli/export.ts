/** `kvcache export`: a tenant's entries in the preload formats, so an export can be edited and preloaded again. */
import YAML from 'yaml';
import type { CacheEntry } from '../core/types';

export type ExportFormat = 'yaml' | 'json' | 'tsv';

interface Row {
  id: string;
  question: string;
  answer: string;
  alternates?: string[];
  tags?: string[];
}

function toRow(e: CacheEntry): Row {
  const row: Row = { id: e.id, question: e.question, answer: e.answer };
  if (e.alternates.length > 0) row.alternates = e.alternates;
  // A team answer linked to an FAQ entry is another wording of it: the tag says which, to fold it in as an alternate.
  const tags = e.linkedTo ? [...e.tags, `alternate-of:${e.linkedTo}`] : e.tags;
  if (tags.length > 0) row.tags = tags;
  return row;
}

// QnA Maker TSV has no quoting: tabs and newlines inside a field are escaped as the format's exports do.
const tsvField = (s: string) => s.replace(/\t/g, ' ').replace(/\r?\n/g, '\\n');

export function renderExport(entries: CacheEntry[], format: ExportFormat): string {
  const sorted = [...entries].sort((a, b) => a.id.localeCompare(b.id));
  if (format === 'json') return `${JSON.stringify(sorted.map(toRow), null, 2)}\n`;
  if (format === 'yaml') return sorted.length === 0 ? '[]\n' : YAML.stringify(sorted.map(toRow), { lineWidth: 0 });
  const lines = ['Question\tAnswer\tSource\tMetadata\tQnaId'];
  for (const e of sorted) {
    const meta = e.tags.map((t) => (t.includes(':') ? t : `tag:${t}`)).join('|');
    for (const q of [e.question, ...e.alternates]) lines.push([q, e.answer, 'kvcache', meta, e.id].map(tsvField).join('\t'));
  }
  return `${lines.join('\n')}\n`;
}
