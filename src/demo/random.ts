/**
 * A seeded pseudo-random source for the demo data. The demo must come out identical on every
 * start (printed curl commands and README examples name real demo ids), so nothing here
 * touches Math.random or the clock.
 */

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(probability: number): boolean;
  /** `count` digits as a string, leading zeros kept. */
  digits(count: number): string;
  /** A calendar date YYYY-MM-DD between two dates (inclusive). */
  date(from: string, to: string): string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** mulberry32: 32-bit state, good enough spread for synthetic data, and a few lines long. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    pick<T>(items: readonly T[]): T {
      const item = items[int(0, items.length - 1)];
      if (item === undefined) throw new RangeError('pick from an empty list');
      return item;
    },
    chance: (probability) => next() < probability,
    digits: (count) => Array.from({ length: count }, () => String(int(0, 9))).join(''),
    date(from, to) {
      const start = Date.parse(`${from}T00:00:00Z`) / DAY_MS;
      const end = Date.parse(`${to}T00:00:00Z`) / DAY_MS;
      return new Date(int(start, end) * DAY_MS).toISOString().slice(0, 10);
    },
  };
}

/** YYYY-MM minus `back` months. */
export function monthBefore(month: string, back: number): string {
  const [year, mon] = month.split('-').map(Number);
  const index = (year ?? 0) * 12 + (mon ?? 1) - 1 - back;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}
