import { describe, expect, it } from 'vitest';
import { discloseAtFor } from '../../src/policy/covert.js';
import type { Grant } from '../../src/registry/model.js';

const grant = (grantId: string, covert: Grant['covert']): Grant => ({
  grantId,
  consumer: 'discipline-inspection',
  type: 'household-registration',
  purposes: ['investigation'],
  fields: ['name'],
  verifyOnly: false,
  expiresAt: null,
  covert,
});
const now = new Date('2026-03-01T00:00:00.000Z');

describe('discloseAtFor', () => {
  it('is null when no grant that served the access is covert', () => {
    expect(discloseAtFor([grant('a', null), grant('b', undefined)], ['a', 'b'], now)).toBeNull();
    // A covert grant that did not serve this access (another purpose) does not count.
    expect(discloseAtFor([grant('a', null), grant('c', { discloseAfterDays: 10 })], ['a'], now)).toBeNull();
    expect(discloseAtFor([], [], now)).toBeNull();
  });

  it('adds the longest delay of the covert grants that served it to now', () => {
    expect(discloseAtFor([grant('c', { discloseAfterDays: 1 })], ['c'], now)).toBe('2026-03-02T00:00:00.000Z');
    expect(
      discloseAtFor(
        [grant('a', null), grant('c', { discloseAfterDays: 30 }), grant('d', { discloseAfterDays: 1825 })],
        ['a', 'c', 'd'],
        now,
      ),
    ).toBe(new Date(now.getTime() + 1825 * 86_400_000).toISOString());
  });
});
