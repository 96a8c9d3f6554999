import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for the one raw subject id the gateway keeps: the provider department needs it to
 * find the disputed record. The objection id is the associated data, so a sealed id copied onto
 * another row does not open. Format: `v1.<iv>.<ciphertext+tag>` (base64url).
 */
export function sealSubjectId(key: Buffer, objectionId: string, id: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(objectionId, 'utf8'));
  const body = Buffer.concat([cipher.update(id, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

/** The id sealed by `sealSubjectId`; throws when the key, the row or the text does not match. */
export function openSubjectId(key: Buffer, objectionId: string, sealed: string): string {
  const [version, ivText, bodyText] = sealed.split('.');
  if (version !== 'v1' || !ivText || !bodyText) throw new Error('not a sealed subject id');
  const body = Buffer.from(bodyText, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64url'));
  decipher.setAAD(Buffer.from(objectionId, 'utf8'));
  decipher.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
}
