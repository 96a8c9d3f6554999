/**
 * Synthetic residents of the demo city and the records the demo departments hold about them.
 * Not everyone holds everything (no marriage record, no property, records held in another
 * city), so a case shows materials the applicant still has to bring.
 */
import type { SubjectKind } from '../registry/model.js';
import { generateResidentId } from '../subjects/resident-id.js';
import {
  DISTRICTS,
  ETHNICITIES,
  INDUSTRIES,
  MAJORS,
  OTHER_BIRTH_REGIONS,
  TRADE_NAMES,
  UNIVERSITIES,
  personName,
  streetAddress,
} from './names.js';
import type { Random } from './random.js';
import { createRandom, monthBefore } from './random.js';

/** One demo person or enterprise as written to data/demo-subjects.json. */
export interface DemoSubject {
  kind: SubjectKind;
  id: string;
  name: string;
  /** Type codes some demo department holds a record of for this subject. */
  holds: string[];
}

export type DemoRecord = Record<string, unknown>;

/** A subject with its records by type code. */
export interface DemoHolding {
  subject: DemoSubject;
  records: Map<string, DemoRecord>;
}

/** The day the demo data describes: fixed, so that the data never changes with the clock. */
export const DEMO_REFERENCE_DATE = '2025-12-31';
const REFERENCE_MONTH = DEMO_REFERENCE_DATE.slice(0, 7);

/** Who has a criminal record in the demo: one person, so that the `none` sharing rule has something to withhold. */
const CONVICTED_INDEX = 7;

const DEGREE_LEVEL = { doctor: { digit: '2', age: 28 }, master: { digit: '3', age: 25 }, bachelor: { digit: '4', age: 22 } } as const;
type Degree = keyof typeof DEGREE_LEVEL;

const round2 = (n: number): number => Math.round(n * 100) / 100;
const yearsAfter = (isoDate: string, years: number): string => `${Number(isoDate.slice(0, 4)) + years}${isoDate.slice(4)}`;
const later = (a: string, b: string): string => (a > b ? a : b);

function employerName(random: Random): string {
  return `杭州${random.pick(TRADE_NAMES)}${random.pick(INDUSTRIES).suffix}有限公司`;
}

function contributionRows(random: Random, count: number): DemoRecord[] {
  const switchAt = random.chance(0.3) ? random.int(1, Math.max(1, count - 1)) : count;
  const jobs = [0, 1].map(() => ({ employer: employerName(random), base: random.int(45, 300) * 100 }));
  return Array.from({ length: count }, (_, k) => {
    const job = jobs[k < switchAt ? 0 : 1] ?? { employer: '', base: 0 };
    // Individual shares: 8% pension, 2% medical insurance.
    return {
      month: monthBefore(REFERENCE_MONTH, count - 1 - k),
      employer: job.employer,
      base: job.base,
      pension: round2(job.base * 0.08),
      medical: round2(job.base * 0.02),
    };
  });
}

/** Monthly brackets of the individual income tax on wages (rate, quick deduction), above the 5,000 yuan allowance. */
const TAX_BRACKETS: readonly [number, number, number][] = [
  [3_000, 0.03, 0],
  [12_000, 0.1, 210],
  [25_000, 0.2, 1_410],
  [35_000, 0.25, 2_660],
  [55_000, 0.3, 4_410],
  [80_000, 0.35, 7_160],
  [Infinity, 0.45, 15_160],
];

/** A month's wage (the contribution base) and the tax withheld on it after social insurance. */
function incomeTaxRow(row: DemoRecord): DemoRecord {
  const income = Number(row.base);
  const taxable = Math.max(0, income - 5_000 - Number(row.pension) - Number(row.medical));
  const [, rate, deduction] = TAX_BRACKETS.find(([upTo]) => taxable <= upTo) ?? [0, 0, 0];
  return { month: row.month, withholdingAgent: row.employer, income, taxPaid: round2(Math.max(0, taxable * rate - deduction)) };
}

function degreeRecord(random: Random, birthDate: string, wanted: Degree): DemoRecord | undefined {
  // Someone too young for the degree drawn gets the one their age allows.
  const order: Degree[] = ['doctor', 'master', 'bachelor'];
  for (const degree of order.slice(order.indexOf(wanted))) {
    const year = Number(birthDate.slice(0, 4)) + DEGREE_LEVEL[degree].age;
    const awardedAt = `${year}-06-${random.int(20, 30)}`;
    if (awardedAt > DEMO_REFERENCE_DATE) continue;
    const university = random.pick(UNIVERSITIES);
    return {
      certificateNumber: `${university.code}${DEGREE_LEVEL[degree].digit}${year}${random.digits(6)}`,
      degree,
      major: random.pick(MAJORS),
      institution: university.name,
      awardedAt,
    };
  }
  return undefined;
}

function makePerson(random: Random, index: number, usedNames: Set<string>, usedIds: Set<string>): DemoHolding {
  // The first person holds every material of every person procedure: the printed demo curl uses them.
  const showcase = index === 0;
  const male = random.chance(0.5);
  let name = personName(random, male);
  while (usedNames.has(name)) name = personName(random, male);
  usedNames.add(name);
  const birthDate = showcase ? random.date('1986-01-01', '1992-12-31') : random.date('1956-01-01', '2003-12-31');
  const birthRegion = random.chance(0.75) ? random.pick(DISTRICTS).code : random.pick(OTHER_BIRTH_REGIONS);
  let id = '';
  do {
    // The sequence's last digit is odd for men and even for women (GB 11643).
    const sequence = random.int(0, 499) * 2 + (male ? 1 : 0);
    id = generateResidentId({ region: birthRegion, birthDate: birthDate.replaceAll('-', ''), sequence });
  } while (usedIds.has(id));
  usedIds.add(id);

  const district = random.pick(DISTRICTS);
  const address = streetAddress(random, district.name);
  const age = Number(DEMO_REFERENCE_DATE.slice(0, 4)) - Number(birthDate.slice(0, 4));
  const draw = random.next();
  const marital = showcase || draw < 0.5 ? 'married' : draw < 0.6 ? 'divorced' : 'none';
  const spouseName = personName(random, !male);
  const records = new Map<string, DemoRecord>();

  if (showcase || random.chance(0.9)) {
    const relation =
      marital === 'married' && random.chance(0.35) ? 'spouse' : age < 35 && random.chance(0.4) ? (male ? 'son' : 'daughter') : 'self';
    const householder =
      relation === 'spouse' ? spouseName : relation === 'self' ? name : personName(random, random.chance(0.5), name.charAt(0));
    records.set('household-registration', {
      name,
      gender: male ? 'male' : 'female',
      ethnicity: random.pick(ETHNICITIES),
      birthDate,
      address,
      householder,
      relationToHouseholder: relation,
      registrationNumber: random.digits(9),
      issuedBy: `杭州市公安局${district.name}分局`,
      issuedAt: random.date(later(birthDate, '1995-01-01'), DEMO_REFERENCE_DATE),
    });
  }
  if (marital !== 'none') {
    const registeredAt = random.date(yearsAfter(birthDate, 22), DEMO_REFERENCE_DATE);
    records.set('marriage-registration', {
      certificateNumber: `${marital === 'married' ? 'J' : 'L'}${district.code}-${registeredAt.slice(0, 4)}-${random.digits(6)}`,
      status: marital,
      spouseName,
      registeredAt,
      issuedBy: `杭州市${district.name}民政局`,
    });
  }
  if (showcase || random.chance(0.8)) {
    records.set('social-insurance-contributions', { rows: contributionRows(random, showcase ? 12 : random.int(1, 18)) });
  }
  if (showcase || random.chance(0.5)) {
    const registeredAt = random.date(later(yearsAfter(birthDate, 22), '2005-01-01'), DEMO_REFERENCE_DATE);
    records.set('real-estate-title', {
      certificateNumber: `浙(${registeredAt.slice(0, 4)})杭州市不动产权第${random.digits(7)}号`,
      location: random.chance(0.6) ? address : streetAddress(random, random.pick(DISTRICTS).name),
      area: random.int(4500, 18000) / 100,
      usage: random.chance(0.9) ? 'residential' : random.pick(['commercial', 'office'] as const),
      registeredAt,
      coOwners: marital === 'married' && random.chance(0.7) ? [spouseName] : [],
    });
  }
  if (showcase || (Number(birthDate.slice(0, 4)) >= 1965 && random.chance(0.55))) {
    const level = random.next();
    const wanted: Degree = showcase ? 'master' : level < 0.7 ? 'bachelor' : level < 0.95 ? 'master' : 'doctor';
    const degree = degreeRecord(random, birthDate, wanted);
    if (degree !== undefined) records.set('degree-certificate', degree);
  }
  records.set('criminal-record', { hasRecord: index === CONVICTED_INDEX, checkedAt: DEMO_REFERENCE_DATE });
  // Derived from the contributions, with no draw from \`random\`: every other record stays as it was.
  const contributions = records.get('social-insurance-contributions');
  if (contributions) records.set('income-tax-record', { rows: (contributions.rows as DemoRecord[]).map(incomeTaxRow) });

  return { subject: { kind: 'person', id, name, holds: [...records.keys()] }, records };
}

/** `count` people, identical for the same seed. */
export function generatePeople(seed: number, count: number): DemoHolding[] {
  const random = createRandom(seed);
  const usedNames = new Set<string>();
  const usedIds = new Set<string>();
  return Array.from({ length: count }, (_, index) => makePerson(random, index, usedNames, usedIds));
}
