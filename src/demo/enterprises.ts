/**
 * Synthetic enterprises of the demo city: a business licence each (market regulation) and,
 * for most, a tax clearance certificate (taxation).
 */
import { CREDIT_CODE_ALPHABET, generateCreditCode, organisationCodeCheckChar } from '../subjects/credit-code.js';
import { DISTRICTS, INDUSTRIES, ROADS, TRADE_NAMES, personName } from './names.js';
import type { DemoHolding, DemoRecord } from './people.js';
import { DEMO_REFERENCE_DATE } from './people.js';
import type { Random } from './random.js';
import { createRandom } from './random.js';

// Indexes with a story: one enterprise never asked for a tax clearance (the applicant must
// bring one), one owes tax and had its licence revoked, one has been deregistered.
const NO_TAX_CLEARANCE = 5;
const REVOKED = 10;
const DEREGISTERED = 11;

const CAPITALS = [10, 50, 100, 200, 500, 1000, 3000] as const;

function organisationCode(random: Random): string {
  // Codes assigned since 2015 start with "MA"; the body's last character is its own GB 11714 check.
  let first8 = 'MA';
  while (first8.length < 8) first8 += random.pick([...CREDIT_CODE_ALPHABET]);
  return first8 + organisationCodeCheckChar(first8);
}

function makeEnterprise(random: Random, index: number, usedIds: Set<string>): DemoHolding {
  const district = random.pick(DISTRICTS);
  const industry = random.pick(INDUSTRIES);
  // Trade names are taken in turn so that no two enterprises share one.
  const name = `杭州${TRADE_NAMES[index % TRADE_NAMES.length] ?? ''}${industry.suffix}有限公司`;
  let id = '';
  do id = generateCreditCode({ region: district.code, body: organisationCode(random) });
  while (usedIds.has(id));
  usedIds.add(id);

  const status = index === REVOKED ? 'revoked' : index === DEREGISTERED ? 'deregistered' : 'active';
  const records = new Map<string, DemoRecord>();
  records.set('business-licence', {
    name,
    legalRepresentative: personName(random, random.chance(0.6)),
    // "100" is no mobile network's prefix, so a synthetic number can never ring a real phone.
    legalRepresentativePhone: `100${random.digits(8)}`,
    registeredCapital: random.pick(CAPITALS),
    establishedAt: random.date('2005-01-01', '2024-12-31'),
    businessScope: industry.scope,
    address: `浙江省杭州市${district.name}${random.pick(ROADS)}${random.int(1, 399)}号${random.int(1, 28)}层`,
    status,
  });
  if (index !== NO_TAX_CLEARANCE && status !== 'deregistered') {
    const issuedAt = random.date('2025-01-01', DEMO_REFERENCE_DATE);
    const year = Number(issuedAt.slice(0, 4));
    records.set('tax-clearance', {
      certificateNumber: `WQ${district.code}-${year}-${random.digits(6)}`,
      taxpayerName: name,
      clear: status === 'active',
      period: `${year - 1}-01/${year - 1}-12`,
      issuedAt,
    });
  }
  return { subject: { kind: 'enterprise', id, name, holds: [...records.keys()] }, records };
}

/** `count` enterprises (at most one per trade name), identical for the same seed. */
export function generateEnterprises(seed: number, count: number): DemoHolding[] {
  if (count > TRADE_NAMES.length) throw new RangeError(`at most ${TRADE_NAMES.length} demo enterprises`);
  const random = createRandom(seed);
  const usedIds = new Set<string>();
  return Array.from({ length: count }, (_, index) => makeEnterprise(random, index, usedIds));
}
