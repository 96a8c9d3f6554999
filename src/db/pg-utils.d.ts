// pg's value serialiser, which @types/pg does not declare. The PGlite dialect uses it so that
// parameters reach PGlite exactly as the pg pool would send them to PostgreSQL.
declare module 'pg/lib/utils.js' {
  export function prepareValue(value: unknown): unknown;
}
