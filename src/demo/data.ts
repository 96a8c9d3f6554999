/**
 * The demo government: departments, clients, catalogue, procedures, grants and synthetic
 * subjects. Pure data; seeding it into the registry is someone else's job. Client secrets are
 * not here: they are generated when the demo is seeded.
 */
import type { Grant, Procedure, Role, SubjectKind } from '../registry/model.js';
import { generateEnterprises } from './enterprises.js';
import type { DemoHolding, DemoRecord, DemoSubject } from './people.js';
import { generatePeople } from './people.js';

export { DEMO_TYPES, builtinAdapter, demoTypeDefs } from './catalog.js';
export { DEMO_REFERENCE_DATE } from './people.js';
export type { DemoRecord, DemoSubject } from './people.js';

export interface DemoDepartment {
  code: string;
  name: { zh: string; en: string };
}

export interface DemoClient {
  clientId: string;
  department: string;
  roles: Role[];
}

export const DEMO_DEPARTMENTS: readonly DemoDepartment[] = [
  { code: 'public-security', name: { zh: '公安局', en: 'Public Security Bureau' } },
  { code: 'civil-affairs', name: { zh: '民政局', en: 'Civil Affairs Bureau' } },
  { code: 'market-regulation', name: { zh: '市场监督管理局', en: 'Administration for Market Regulation' } },
  { code: 'human-resources', name: { zh: '人力资源和社会保障局', en: 'Human Resources and Social Security Bureau' } },
  { code: 'natural-resources', name: { zh: '自然资源和规划局', en: 'Natural Resources and Planning Bureau' } },
  { code: 'taxation', name: { zh: '税务局', en: 'Taxation Bureau' } },
  { code: 'education', name: { zh: '教育局', en: 'Education Bureau' } },
  { code: 'housing-fund', name: { zh: '住房公积金中心', en: 'Housing Provident Fund Centre' } },
  { code: 'discipline-inspection', name: { zh: '纪委监委', en: 'Commission for Discipline Inspection and Supervision' } },
  { code: 'government-services', name: { zh: '政务服务管理办公室', en: 'Government Services Administration Office' } },
];

export const DEMO_CLIENTS: readonly DemoClient[] = [
  { clientId: 'civil-affairs-window', department: 'civil-affairs', roles: ['consumer'] },
  { clientId: 'housing-fund-window', department: 'housing-fund', roles: ['consumer'] },
  { clientId: 'human-resources-window', department: 'human-resources', roles: ['consumer'] },
  { clientId: 'market-regulation-window', department: 'market-regulation', roles: ['consumer'] },
  { clientId: 'taxation-window', department: 'taxation', roles: ['consumer'] },
  { clientId: 'audit-office', department: 'discipline-inspection', roles: ['auditor'] },
  { clientId: 'citizen-portal', department: 'government-services', roles: ['portal'] },
  { clientId: 'platform-admin', department: 'government-services', roles: ['admin'] },
  // Public Security's staff system answers citizens' objections to the records it provides.
  { clientId: 'public-security-staff', department: 'public-security', roles: ['provider'] },
];

/** Every procedure serves one kind of applicant; its materials all share that subject kind. */
export const DEMO_PROCEDURE_SUBJECT_KINDS: Readonly<Record<string, SubjectKind>> = {
  'marriage-registration-application': 'person',
  'enterprise-establishment': 'enterprise',
  'housing-fund-withdrawal': 'person',
  'talent-subsidy': 'person',
  'special-additional-deduction': 'person',
};

export const DEMO_PROCEDURES: readonly Procedure[] = [
  { code: 'marriage-registration-application', title: '结婚登记', materials: ['household-registration', 'marriage-registration'] },
  { code: 'enterprise-establishment', title: '企业开办', materials: ['business-licence', 'tax-clearance'] },
  {
    code: 'housing-fund-withdrawal',
    title: '住房公积金提取',
    materials: ['household-registration', 'marriage-registration', 'real-estate-title', 'social-insurance-contributions'],
  },
  {
    code: 'talent-subsidy',
    title: '人才补贴',
    materials: ['degree-certificate', 'social-insurance-contributions', 'household-registration'],
  },
  { code: 'special-additional-deduction', title: '个人所得税专项附加扣除', materials: ['marriage-registration', 'real-estate-title'] },
];

export function procedureSubjectKind(code: string): SubjectKind | undefined {
  return DEMO_PROCEDURE_SUBJECT_KINDS[code];
}

function grant(consumer: string, type: string, purposes: string[], fields: string[], extra: Partial<Grant> = {}): Grant {
  return { grantId: `g-${consumer}-${type}`, consumer, type, purposes, fields, verifyOnly: false, expiresAt: null, ...extra };
}

/**
 * Each grant releases only what its procedure needs: civil affairs gets no address, the
 * human-resources window sees contributions but not the wage base, taxation may only ask
 * yes/no questions about marital status.
 */
export const DEMO_GRANTS: readonly Grant[] = [
  grant(
    'civil-affairs',
    'household-registration',
    ['marriage-registration-application'],
    ['name', 'gender', 'ethnicity', 'birthDate', 'householder', 'relationToHouseholder', 'registrationNumber', 'issuedBy', 'issuedAt'],
  ),
  grant(
    'civil-affairs',
    'marriage-registration',
    ['marriage-registration-application'],
    ['certificateNumber', 'status', 'registeredAt', 'issuedBy'],
  ),
  grant(
    'housing-fund',
    'household-registration',
    ['housing-fund-withdrawal'],
    ['name', 'gender', 'birthDate', 'address', 'householder', 'relationToHouseholder', 'registrationNumber'],
  ),
  grant(
    'housing-fund',
    'marriage-registration',
    ['housing-fund-withdrawal'],
    ['certificateNumber', 'status', 'spouseName', 'registeredAt'],
  ),
  grant(
    'housing-fund',
    'real-estate-title',
    ['housing-fund-withdrawal'],
    ['certificateNumber', 'location', 'area', 'usage', 'registeredAt', 'coOwners'],
  ),
  grant('housing-fund', 'social-insurance-contributions', ['housing-fund-withdrawal'], ['month', 'employer', 'base']),
  grant(
    'human-resources',
    'household-registration',
    ['talent-subsidy'],
    ['name', 'gender', 'birthDate', 'registrationNumber', 'issuedBy', 'issuedAt'],
  ),
  grant('human-resources', 'social-insurance-contributions', ['talent-subsidy'], ['month', 'employer', 'pension', 'medical']),
  // The talent housing pilot ended with 2020 (Beijing time): lookups under this grant now fail.
  grant('human-resources', 'real-estate-title', ['talent-subsidy'], ['certificateNumber', 'area', 'usage'], {
    expiresAt: '2020-12-31T16:00:00.000Z',
  }),
  grant(
    'market-regulation',
    'tax-clearance',
    ['enterprise-establishment'],
    ['certificateNumber', 'taxpayerName', 'clear', 'period', 'issuedAt'],
  ),
  grant('taxation', 'marriage-registration', ['special-additional-deduction'], ['status'], { verifyOnly: true }),
  grant('taxation', 'real-estate-title', ['special-additional-deduction'], ['certificateNumber', 'area', 'usage', 'registeredAt']),
  // Income decides how much may be withdrawn; the tax record is released only with the person's consent.
  grant('housing-fund', 'income-tax-record', ['housing-fund-withdrawal'], ['month', 'withholdingAgent', 'income', 'taxPaid']),
];

const PEOPLE_SEED = 0x0e7121;
const ENTERPRISE_SEED = 0x0e7122;
const PEOPLE_COUNT = 30;
const ENTERPRISE_COUNT = 12;

/** Index in DEMO_PEOPLE of the person who holds every material of every person procedure. */
export const DEMO_SHOWCASE_PERSON_INDEX = 0;
/** Index in DEMO_ENTERPRISES of an active enterprise holding both enterprise-establishment materials. */
export const DEMO_SHOWCASE_ENTERPRISE_INDEX = 0;

function subjectsOf(holdings: DemoHolding[]): readonly DemoSubject[] {
  return Object.freeze(holdings.map((h) => Object.freeze({ ...h.subject, holds: Object.freeze([...h.subject.holds]) as string[] })));
}

export const DEMO_PEOPLE: readonly DemoSubject[] = subjectsOf(generatePeople(PEOPLE_SEED, PEOPLE_COUNT));
export const DEMO_ENTERPRISES: readonly DemoSubject[] = subjectsOf(generateEnterprises(ENTERPRISE_SEED, ENTERPRISE_COUNT));

export interface DemoDataset {
  people: DemoSubject[];
  enterprises: DemoSubject[];
  /** People first, then enterprises: the content of data/demo-subjects.json. */
  subjects: DemoSubject[];
  /** The record a demo department holds, or undefined; a fresh copy each call. */
  record(type: string, subjectId: string): DemoRecord | undefined;
}

/** Builds the demo subjects and an index of their records; the same content on every call. */
export function createDemoDataset(): DemoDataset {
  const people = generatePeople(PEOPLE_SEED, PEOPLE_COUNT);
  const enterprises = generateEnterprises(ENTERPRISE_SEED, ENTERPRISE_COUNT);
  const recordsById = new Map<string, Map<string, DemoRecord>>();
  for (const holding of [...people, ...enterprises]) recordsById.set(holding.subject.id, holding.records);
  return {
    people: people.map((h) => h.subject),
    enterprises: enterprises.map((h) => h.subject),
    subjects: [...people, ...enterprises].map((h) => h.subject),
    record(type, subjectId) {
      const found = recordsById.get(subjectId.toUpperCase())?.get(type);
      return found === undefined ? undefined : structuredClone(found);
    },
  };
}
