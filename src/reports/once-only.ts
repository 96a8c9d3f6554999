import type { CaseCounts } from './repository.js';

/** Default report window: the last 30 days. */
export const DEFAULT_WINDOW_MS = 30 * 86_400_000;
/** Public figures below this are withheld (null), so that no person can be singled out. */
export const PUBLIC_MIN_COUNT = 5;

interface Totals {
  cases: number;
  oneTripCases: number;
  fetched: number;
  toSubmit: number;
}

const zero = (): Totals => ({ cases: 0, oneTripCases: 0, fetched: 0, toSubmit: 0 });

function add(into: Totals, row: Totals): void {
  into.cases += row.cases;
  into.oneTripCases += row.oneTripCases;
  into.fetched += row.fetched;
  into.toSubmit += row.toSubmit;
}

/**
 * The once-only report (gateway.yaml OnceOnlyReport): per procedure (every registered one, and any
 * no longer registered that had cases), per consumer department (those with cases), and totals.
 */
export function onceOnlyReport(
  rows: readonly CaseCounts[],
  procedures: ReadonlyMap<string, { title: string }>,
  window: { from: Date; to: Date },
) {
  const totals = zero();
  const byProcedure = new Map<string, Totals & { toSubmitByReason: Record<string, number> }>();
  const byConsumer = new Map<string, Totals>();
  for (const code of procedures.keys()) byProcedure.set(code, { ...zero(), toSubmitByReason: {} });
  for (const row of rows) {
    add(totals, row);
    let p = byProcedure.get(row.procedure);
    if (!p) byProcedure.set(row.procedure, (p = { ...zero(), toSubmitByReason: {} }));
    add(p, row);
    for (const [reason, n] of Object.entries(row.toSubmitByReason)) p.toSubmitByReason[reason] = (p.toSubmitByReason[reason] ?? 0) + n;
    let c = byConsumer.get(row.consumer);
    if (!c) byConsumer.set(row.consumer, (c = zero()));
    add(c, row);
  }
  return {
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    totals,
    procedures: [...byProcedure.entries()]
      .map(([procedure, t]) => ({ procedure, title: procedures.get(procedure)?.title ?? procedure, ...t }))
      .sort((a, b) => a.procedure.localeCompare(b.procedure)),
    consumers: [...byConsumer.entries()]
      .map(([department, t]) => ({ department, ...t }))
      .sort((a, b) => a.department.localeCompare(b.department)),
  };
}

/**
 * The public report (政务公开): per procedure, cases and the one-trip rate. A cases count under
 * PUBLIC_MIN_COUNT is withheld, and so is the rate computed from it.
 */
export function publicOnceOnlyReport(report: ReturnType<typeof onceOnlyReport>) {
  return {
    from: report.from,
    to: report.to,
    procedures: report.procedures.map((p) => {
      const shown = p.cases >= PUBLIC_MIN_COUNT;
      return {
        procedure: p.procedure,
        title: p.title,
        cases: shown ? p.cases : null,
        oneTripRate: shown ? Math.round((p.oneTripCases / p.cases) * 10_000) / 10_000 : null,
      };
    }),
  };
}

/**
 * The window of a report request: `to` defaults to now, `from` to 30 days before `to`. Null when
 * `from` is not before `to` (the caller answers 400).
 */
export function reportWindow(query: { from?: string; to?: string }, now: Date): { from: Date; to: Date } | null {
  const to = query.to === undefined ? now : new Date(query.to);
  const from = query.from === undefined ? new Date(to.getTime() - DEFAULT_WINDOW_MS) : new Date(query.from);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from.getTime() >= to.getTime()) return null;
  return { from, to };
}
