/**
 * The demo catalogue (资源目录): nine types held by the demo departments.
 * Each field is declared once, with its JSON Schema, so the catalogue's `fields` and the
 * record schema cannot drift apart. Schemas use only keywords that mean the same in draft-07
 * and 2020-12. Dates say `format: date` (the record Ajv has ajv-formats): that is what lets a
 * verification order them (`gte`/`lte`), and the pattern keeps them checked without it.
 */
import type { AdapterConfig, FieldDef, TypeDef } from '../registry/model.js';

interface FieldSpec {
  name: string;
  title: string;
  sensitive?: boolean;
  schema: Record<string, unknown>;
}

type DemoTypeDef = Omit<TypeDef, 'adapter'>;

const text = { type: 'string' } as const;
const amount = { type: 'number' } as const;
const date = { type: 'string', format: 'date', pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$' } as const;
const month = { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2])$' } as const;

function objectSchema(fields: readonly FieldSpec[]): Record<string, unknown> {
  return {
    type: 'object',
    properties: Object.fromEntries(fields.map((f) => [f.name, f.schema])),
    required: fields.map((f) => f.name),
    additionalProperties: false,
  };
}

function fieldDefs(fields: readonly FieldSpec[]): FieldDef[] {
  return fields.map((f) => ({ name: f.name, title: f.title, sensitive: f.sensitive ?? false }));
}

function certificate(head: Omit<DemoTypeDef, 'kind' | 'fields' | 'schema'>, fields: FieldSpec[]): DemoTypeDef {
  return { ...head, kind: 'certificate', fields: fieldDefs(fields), schema: objectSchema(fields) };
}

/**
 * A `record` type's fields are the columns of its rows, and field minimisation applies per
 * column: a grant for `month` and `employer` gets every row with only those two columns.
 */
function rowRecord(head: Omit<DemoTypeDef, 'kind' | 'fields' | 'schema'>, columns: FieldSpec[]): DemoTypeDef {
  const schema = {
    type: 'object',
    properties: { rows: { type: 'array', items: objectSchema(columns) } },
    required: ['rows'],
    additionalProperties: false,
  };
  return { ...head, kind: 'record', fields: fieldDefs(columns), schema };
}

export const DEMO_TYPES: readonly DemoTypeDef[] = [
  certificate(
    { type: 'household-registration', title: '户籍登记信息', provider: 'public-security', subjectKind: 'person', sharing: 'conditional' },
    [
      { name: 'name', title: '姓名', schema: text },
      { name: 'gender', title: '性别', schema: { type: 'string', enum: ['male', 'female'] } },
      { name: 'ethnicity', title: '民族', schema: text },
      { name: 'birthDate', title: '出生日期', schema: date },
      { name: 'address', title: '住址', sensitive: true, schema: text },
      { name: 'householder', title: '户主姓名', schema: text },
      {
        name: 'relationToHouseholder',
        title: '与户主关系',
        schema: { type: 'string', enum: ['self', 'spouse', 'son', 'daughter', 'parent', 'other'] },
      },
      { name: 'registrationNumber', title: '户号', schema: { type: 'string', pattern: '^\\d{9}$' } },
      { name: 'issuedBy', title: '登记机关', schema: text },
      { name: 'issuedAt', title: '登记日期', schema: date },
    ],
  ),
  certificate(
    { type: 'marriage-registration', title: '婚姻登记信息', provider: 'civil-affairs', subjectKind: 'person', sharing: 'conditional' },
    [
      // J = 结婚证, L = 离婚证, then the registering office's division code, year and sequence.
      { name: 'certificateNumber', title: '证书字号', schema: { type: 'string', pattern: '^[JL]\\d{6}-\\d{4}-\\d{6}$' } },
      { name: 'status', title: '婚姻状况', schema: { type: 'string', enum: ['married', 'divorced', 'unmarried'] } },
      { name: 'spouseName', title: '配偶姓名', sensitive: true, schema: text },
      { name: 'registeredAt', title: '登记日期', schema: date },
      { name: 'issuedBy', title: '登记机关', schema: text },
    ],
  ),
  certificate(
    { type: 'business-licence', title: '营业执照', provider: 'market-regulation', subjectKind: 'enterprise', sharing: 'unconditional' },
    [
      { name: 'name', title: '名称', schema: text },
      { name: 'legalRepresentative', title: '法定代表人', schema: text },
      { name: 'legalRepresentativePhone', title: '法定代表人联系电话', sensitive: true, schema: { type: 'string', pattern: '^1\\d{10}$' } },
      { name: 'registeredCapital', title: '注册资本（万元）', schema: amount },
      { name: 'establishedAt', title: '成立日期', schema: date },
      { name: 'businessScope', title: '经营范围', schema: text },
      { name: 'address', title: '住所', schema: text },
      { name: 'status', title: '登记状态', schema: { type: 'string', enum: ['active', 'revoked', 'deregistered'] } },
    ],
  ),
  rowRecord(
    {
      type: 'social-insurance-contributions',
      title: '社会保险缴费记录',
      provider: 'human-resources',
      subjectKind: 'person',
      sharing: 'conditional',
    },
    [
      { name: 'month', title: '缴费月份', schema: month },
      { name: 'employer', title: '缴费单位', schema: text },
      // The contribution base is the wage: it says what a person earns.
      { name: 'base', title: '缴费基数（元）', sensitive: true, schema: amount },
      { name: 'pension', title: '养老保险个人缴费（元）', schema: amount },
      { name: 'medical', title: '医疗保险个人缴费（元）', schema: amount },
    ],
  ),
  certificate(
    { type: 'real-estate-title', title: '不动产权证书', provider: 'natural-resources', subjectKind: 'person', sharing: 'conditional' },
    [
      { name: 'certificateNumber', title: '不动产权证号', schema: { type: 'string', pattern: '^.+不动产权第\\d{7}号$' } },
      { name: 'location', title: '坐落', sensitive: true, schema: text },
      { name: 'area', title: '建筑面积（平方米）', schema: amount },
      { name: 'usage', title: '用途', schema: { type: 'string', enum: ['residential', 'commercial', 'office', 'industrial'] } },
      { name: 'registeredAt', title: '登记日期', schema: date },
      { name: 'coOwners', title: '共有人', sensitive: true, schema: { type: 'array', items: text } },
    ],
  ),
  certificate({ type: 'tax-clearance', title: '无欠税证明', provider: 'taxation', subjectKind: 'enterprise', sharing: 'conditional' }, [
    { name: 'certificateNumber', title: '证明编号', schema: { type: 'string', pattern: '^WQ\\d{6}-\\d{4}-\\d{6}$' } },
    { name: 'taxpayerName', title: '纳税人名称', schema: text },
    { name: 'clear', title: '是否无欠税', schema: { type: 'boolean' } },
    { name: 'period', title: '所属期', schema: { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2])/\\d{4}-(0[1-9]|1[0-2])$' } },
    { name: 'issuedAt', title: '开具日期', schema: date },
  ]),
  certificate({ type: 'degree-certificate', title: '学位证书', provider: 'education', subjectKind: 'person', sharing: 'unconditional' }, [
    // 16 digits: 5-digit institution code, degree level, year awarded, 6-digit sequence.
    { name: 'certificateNumber', title: '证书编号', schema: { type: 'string', pattern: '^\\d{16}$' } },
    { name: 'degree', title: '学位', schema: { type: 'string', enum: ['bachelor', 'master', 'doctor'] } },
    { name: 'major', title: '专业', schema: text },
    { name: 'institution', title: '授予单位', schema: text },
    { name: 'awardedAt', title: '授予日期', schema: date },
  ]),
  certificate({ type: 'criminal-record', title: '违法犯罪记录', provider: 'public-security', subjectKind: 'person', sharing: 'none' }, [
    { name: 'hasRecord', title: '有无犯罪记录', schema: { type: 'boolean' } },
    { name: 'checkedAt', title: '查询日期', schema: date },
  ]),
  // What a person earns, month by month: released only with the person's consent (issue 15).
  rowRecord(
    {
      type: 'income-tax-record',
      title: '个人所得税纳税记录',
      provider: 'taxation',
      subjectKind: 'person',
      sharing: 'conditional',
      consent: 'required',
    },
    [
      { name: 'month', title: '所属月份', schema: month },
      { name: 'withholdingAgent', title: '扣缴义务人', schema: text },
      { name: 'income', title: '收入额（元）', sensitive: true, schema: amount },
      { name: 'taxPaid', title: '已缴税额（元）', schema: amount },
    ],
  ),
];

/** The demo departments are served in-process by the builtin adapter named after the provider. */
export function builtinAdapter(provider: string): AdapterConfig {
  return { kind: 'builtin', name: provider };
}

/** Full catalogue entries; each call returns fresh copies, so a seeder may change them freely. */
export function demoTypeDefs(adapterFor: (provider: string) => AdapterConfig = builtinAdapter): TypeDef[] {
  return DEMO_TYPES.map((t) => ({ ...structuredClone(t), adapter: adapterFor(t.provider) }));
}
