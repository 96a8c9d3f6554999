import type { Grant } from '../registry/model.js';

const DAY_MS = 86_400_000;

/**
 * When an access served under `usedGrantIds` may be shown to its subject: null when none of those
 * grants is covert (shown at once), else `now` plus the longest delay among the covert ones — an
 * operator who declared an access pattern covert is never overruled by a wider overt grant that
 * happens to cover the same request. Fixed per access: a later change of the grant moves nothing.
 */
export function discloseAtFor(grants: readonly Grant[], usedGrantIds: readonly string[], now: Date): string | null {
  let days = 0;
  for (const g of grants) {
    if (g.covert && usedGrantIds.includes(g.grantId)) days = Math.max(days, g.covert.discloseAfterDays);
  }
  return days > 0 ? new Date(now.getTime() + days * DAY_MS).toISOString() : null;
}
