/**
 * A small seeded random number generator, so that seeded weights and the
 * certificate's random inputs are the same on every run: SplitMix32 for
 * uniform numbers, Marsaglia's polar method for normal ones. Streams are
 * keyed by a name (a layer's id), so adding a layer never changes the
 * weights of the others.
 */
export class Random {
  private state: number;
  private spare: number | undefined;

  constructor(seed: number, stream = "") {
    this.state = (hashString(stream) ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /**
   * data[i] = scale · normal() for every i in turn — the same values, in the
   * same order, with the same state left behind, without a call per value.
   */
  fillNormal(data: Float32Array, scale: number): void {
    let i = 0;
    if (this.spare !== undefined && data.length > 0) {
      data[i++] = scale * this.spare;
      this.spare = undefined;
    }
    while (i < data.length) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (!(s > 0 && s < 1)) continue;
      const f = Math.sqrt((-2 * Math.log(s)) / s);
      data[i++] = scale * (u * f);
      if (i < data.length) data[i++] = scale * (v * f);
      else this.spare = v * f;
    }
  }

  /** A standard normal number. */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    for (;;) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        this.spare = v * f;
        return u * f;
      }
    }
  }
}

/** FNV-1a, 32-bit. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
