import type { DB } from '../db/index.js';
import { hasOpenObjection, openCountsByType } from './repository.js';

/**
 * Is a record disputed (an objection to it is open)? Asked on every release, so it must cost
 * next to nothing while no objection is open — the usual case. Each replica keeps the number of
 * open objections per type, reloaded at most every `ttlMs`; only a type with an open objection
 * costs one indexed query (objections_open) per release.
 *
 * Staleness: this replica's own filings and resolutions drop the counts at once. One filed on
 * another replica is seen here within `ttlMs`; until then a release of that type may still say
 * `disputed: false`. A resolution elsewhere is never stale: the indexed query has the last word.
 */
export class DisputeIndex {
  private counts: Map<string, number> | null = null;
  private loadedAt = 0;
  private loading: Promise<Map<string, number>> | null = null;
  private generation = 0;

  constructor(
    private readonly db: DB,
    private readonly ttlMs: number,
  ) {}

  /** `subjectHmac` is computed only for a type that has an open objection. */
  /** Answered at once (no promise) while the counts are fresh and no objection to the type is open. */
  isDisputed(type: string, subjectHmac: () => string): boolean | Promise<boolean> {
    const counts = this.fresh();
    if (counts !== null) return counts.get(type) ? hasOpenObjection(this.db, type, subjectHmac()) : false;
    return this.load().then((loaded) => (loaded.get(type) ? hasOpenObjection(this.db, type, subjectHmac()) : false));
  }

  /** After this replica filed or resolved an objection: the next release reloads the counts. */
  invalidate(): void {
    this.generation += 1;
    this.counts = null;
    this.loading = null;
  }

  private fresh(): Map<string, number> | null {
    return this.counts && performance.now() - this.loadedAt < this.ttlMs ? this.counts : null;
  }

  private load(): Promise<Map<string, number>> {
    if (this.loading) return this.loading;
    const generation = this.generation;
    const started = performance.now();
    const loading = openCountsByType(this.db).then((counts) => {
      // A load that began before an invalidation may miss that change: keep it for its callers only.
      if (generation === this.generation) {
        this.counts = counts;
        this.loadedAt = started;
      }
      return counts;
    });
    this.loading = loading;
    void loading
      .finally(() => {
        if (this.loading === loading) this.loading = null;
      })
      .catch(() => undefined);
    return loading;
  }
}
