/** Registry entities as the application sees them (camelCase, parsed JSON). */

export type SubjectKind = 'person' | 'enterprise';
export type Sharing = 'unconditional' | 'conditional' | 'none';
export type TypeKind = 'certificate' | 'record';
/** Whether a type's data is released only after the subject approved the request (issue 15). */
export type ConsentRule = 'none' | 'required';
export type Role = 'consumer' | 'auditor' | 'portal' | 'admin' | 'provider';
export const ROLES: readonly Role[] = ['consumer', 'auditor', 'portal', 'admin', 'provider'];

export interface Department {
  code: string;
  name: { zh: string; en: string };
  createdAt: string;
  updatedAt: string;
}

export interface FieldDef {
  name: string;
  title: string;
  sensitive: boolean;
}

export type AdapterConfig = { kind: 'http'; url: string; timeoutMs: number } | { kind: 'builtin'; name: string };

export interface TypeDef {
  type: string;
  kind: TypeKind;
  title: string;
  provider: string;
  subjectKind: SubjectKind;
  sharing: Sharing;
  /** Absent means 'none'; the registry always reads it back set. */
  consent?: ConsentRule;
  fields: FieldDef[];
  /** JSON Schema of the record (for `record` kind: of the whole `{rows: [...]}` object). */
  schema: Record<string, unknown>;
  adapter: AdapterConfig;
}

export interface Grant {
  grantId: string;
  consumer: string;
  type: string;
  purposes: string[];
  fields: string[];
  verifyOnly: boolean;
  expiresAt: string | null;
  /**
   * A covert grant (e.g. an investigation): each access under it is hidden from the subject's
   * data tracker until `discloseAfterDays` (1..1825) after that access. Absent or null: overt.
   */
  covert?: { discloseAfterDays: number } | null;
}

export interface Procedure {
  code: string;
  title: string;
  materials: string[];
}

export interface Client {
  clientId: string;
  department: string;
  roles: Role[];
  revokedAt: string | null;
}
