import { Readable } from 'node:stream';
import type { DB } from '../db/index.js';
import type { AuditEvent } from './event.js';
import { scanEvents, type AuditQueryFilters } from './query.js';

export type ExportFormat = 'ndjson' | 'csv';

export const EXPORT_MEDIA_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson',
  csv: 'text/csv',
};

/** What each acceptable media range selects; `*` ranges fall back to NDJSON, the verifiable one. */
const RANGES: Record<string, ExportFormat> = {
  'application/x-ndjson': 'ndjson',
  'application/*': 'ndjson',
  '*/*': 'ndjson',
  'text/csv': 'csv',
  'text/*': 'csv',
};

/**
 * Picks the export format from an Accept header (RFC 9110 §12.5.1): the acceptable range with the
 * highest q wins, ties going to the more specific range and then to the order given. No header
 * means NDJSON. Null when nothing acceptable is offered.
 */
export function negotiateExportFormat(accept: string | undefined): ExportFormat | null {
  if (accept === undefined || accept.trim() === '') return 'ndjson';
  let best: { format: ExportFormat; q: number; specific: number } | null = null;
  for (const part of accept.split(',')) {
    const [rangeRaw, ...params] = part.split(';');
    const range = rangeRaw?.trim().toLowerCase() ?? '';
    const format = RANGES[range];
    if (!format) continue;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=').map((x) => x.trim());
      if (k?.toLowerCase() === 'q') q = v !== undefined && /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(v) ? Number(v) : 0;
    }
    const specific = range.includes('*') ? (range === '*/*' ? 0 : 1) : 2;
    if (q > 0 && (!best || q > best.q || (q === best.q && specific > best.specific))) best = { format, q, specific };
  }
  return best?.format ?? null;
}

/** The CSV columns: the stored event, flattened (fields joined by `;`, detail as JSON). */
export const CSV_COLUMNS = [
  'seq',
  'id',
  'time',
  'requestId',
  'consumer',
  'clientId',
  'officer',
  'action',
  'type',
  'provider',
  'subjectKind',
  'subjectMasked',
  'subjectHmac',
  'purpose',
  'caseId',
  'fields',
  'outcome',
  'errorCode',
  'latencyMs',
  'recordDigest',
  'detail',
  'prevHash',
  'hash',
  // Last, so the columns before keep their places: set only on accesses under a covert grant.
  'covert',
  'discloseAt',
] as const satisfies ReadonlyArray<keyof AuditEvent>;

/**
 * One RFC 4180 cell. A cell a spreadsheet would run as a formula (leading =, +, -, @, tab or CR)
 * is prefixed with `'` (OWASP "CSV injection").
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = Array.isArray(value) ? value.join(';') : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRow(event: AuditEvent): string {
  return CSV_COLUMNS.map((c) => csvCell(event[c])).join(',') + '\r\n';
}

/** One NDJSON line: the stored event exactly as its hash covers it, so the file verifies offline. */
export function ndjsonLine(event: AuditEvent): string {
  return JSON.stringify(event) + '\n';
}

/**
 * The matching events, oldest first, as a byte stream. Rows are read a keyset page at a time and a
 * page is read only when the consumer has taken the previous one (Readable.from pulls on demand),
 * so a slow client holds back the database reads instead of filling memory. The first page is read
 * before the stream is returned: a query that fails at all fails before the status line, as a
 * problem, never as a 200 with a cut body (issue 9).
 */
export async function exportStream(db: DB, filters: AuditQueryFilters, format: ExportFormat, pageSize = 1000): Promise<Readable> {
  const pages = scanEvents(db, filters, { pageSize })[Symbol.asyncIterator]();
  const first = await pages.next();
  const render = (page: AuditEvent[]) => page.map(format === 'csv' ? csvRow : ndjsonLine).join('');
  async function* chunks(): AsyncGenerator<string> {
    if (format === 'csv') yield CSV_COLUMNS.join(',') + '\r\n';
    if (first.done) return;
    yield render(first.value);
    for (let next = await pages.next(); !next.done; next = await pages.next()) yield render(next.value);
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: 64 * 1024 });
}
