/**
 * Verified access tokens, so that a client presenting the same token again is not put through
 * Ed25519 verification again (issue 12: verification was ~17 % of the gateway's CPU). Only tokens
 * that passed full verification enter; an entry never outlives the token's `exp`, nor the key that
 * signed it; revocation is not cached here (plugins/auth.ts checks the client on every request).
 * Bounded, least recently used first out, so a flood of distinct valid tokens cannot grow it.
 */
export interface VerifiedToken {
  claims: Record<string, unknown>;
  /** The token's `exp`, in milliseconds since the epoch. */
  expiresAt: number;
  kid: string | undefined;
}

export class VerifiedTokenCache {
  // A Map iterates in insertion order: re-inserting on a hit keeps the least recently used first.
  private readonly entries = new Map<string, VerifiedToken>();

  constructor(private readonly maxEntries: number) {}

  /** The verified token, or undefined when unknown, expired at `now`, or signed by a key `keyKnown` no longer has. */
  get(token: string, now: number, keyKnown: (kid: string | undefined) => boolean): VerifiedToken | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (entry.expiresAt <= now || !keyKnown(entry.kid)) return undefined;
    this.entries.set(token, entry);
    return entry;
  }

  set(token: string, entry: VerifiedToken): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(token);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(token, entry);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * The gateway's tokens to provider departments, one per audience, reused while more than half of
 * their life is left (they live `ttlSeconds`, about a minute, as openapi/provider.yaml says).
 * Signing one per provider call cost a third of the gateway's CPU. A new signing key takes
 * effect at once: a token signed with another kid is not reused.
 */
export class ProviderTokenCache {
  private readonly tokens = new Map<string, { token: string; kid: string; renewAt: number }>();

  constructor(private readonly ttlSeconds: number) {}

  get(audience: string, kid: string, now: number, mint: () => string): string {
    const held = this.tokens.get(audience);
    if (held && held.kid === kid && now < held.renewAt) return held.token;
    const token = mint();
    // Audiences are provider department codes, a short list; the cap only guards against surprises.
    if (this.tokens.size >= 1000) this.tokens.clear();
    this.tokens.set(audience, { token, kid, renewAt: now + (this.ttlSeconds * 1000) / 2 });
    return token;
  }
}
