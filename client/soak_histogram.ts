/**
 * An HDR-style latency histogram for `tcpcli soak`: log-linear buckets, 64
 * per power of two, so every recorded value is kept within 1/64 (1.6 %) of
 * its true value at a fixed, small memory cost whatever the range.
 *
 * Values are whole microseconds, from 0 to {@linkcode MAX_TRACKABLE_US}.
 *
 * @module
 */

/** Sub-buckets per power of two: the precision is 1/SUB_BUCKETS. */
const SUB_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BITS;

/** The largest value kept exactly in its bucket (larger values are clamped). */
export const MAX_TRACKABLE_US = 2 ** 31 - 1;

/** Bucket index of a value (whole µs, 0 to MAX_TRACKABLE_US). */
export function bucketOf(value: number): number {
  if (value < 2 * SUB_BUCKETS) return value;
  const shift = 31 - Math.clz32(value) - SUB_BITS;
  return (shift + 1) * SUB_BUCKETS + (value >>> shift) - SUB_BUCKETS;
}

/** The highest value that falls in bucket `index`. */
export function bucketHigh(index: number): number {
  if (index < 2 * SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const sub = (index % SUB_BUCKETS) + SUB_BUCKETS;
  return (sub + 1) * 2 ** shift - 1;
}

/** The lowest value that falls in bucket `index`. */
export function bucketLow(index: number): number {
  if (index < 2 * SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const sub = (index % SUB_BUCKETS) + SUB_BUCKETS;
  return sub * 2 ** shift;
}

const BUCKETS = bucketOf(MAX_TRACKABLE_US) + 1;

/** One non-empty bucket, for printing or JSON. */
export interface HistogramBucket {
  /** Lowest value of the bucket, in µs. */
  fromUs: number;
  /** Highest value of the bucket, in µs. */
  toUs: number;
  /** Values recorded in it. */
  count: number;
}

/** A log-linear histogram of latencies in microseconds. */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #total = 0;
  #max = 0;
  #min = Infinity;
  #sum = 0;

  /** Records one value in µs; negative values count as 0, huge ones are clamped. */
  record(us: number): void {
    const value = Math.min(MAX_TRACKABLE_US, Math.max(0, Math.round(us)));
    this.#counts[bucketOf(value)]!++;
    this.#total++;
    this.#sum += value;
    if (value > this.#max) this.#max = value;
    if (value < this.#min) this.#min = value;
  }

  /** Values recorded. */
  get count(): number {
    return this.#total;
  }

  /** The largest value recorded (exact), or 0 when empty. */
  get max(): number {
    return this.#max;
  }

  /** The smallest value recorded (exact), or 0 when empty. */
  get min(): number {
    return this.#total === 0 ? 0 : this.#min;
  }

  /** The mean of the values recorded, or 0 when empty. */
  get mean(): number {
    return this.#total === 0 ? 0 : this.#sum / this.#total;
  }

  /**
   * The value at percentile `p` (0 to 100): the highest value of the bucket
   * holding it, never above the exact maximum; 0 when empty.
   */
  percentile(p: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(bucketHigh(i), this.#max);
    }
    return this.#max;
  }

  /** Forgets every value. */
  clear(): void {
    if (this.#total === 0) return;
    this.#counts.fill(0);
    this.#total = 0;
    this.#sum = 0;
    this.#max = 0;
    this.#min = Infinity;
  }

  /** The non-empty buckets, lowest first. */
  buckets(): HistogramBucket[] {
    const out: HistogramBucket[] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const count = this.#counts[i]!;
      if (count > 0) {
        out.push({ fromUs: bucketLow(i), toUs: bucketHigh(i), count });
      }
    }
    return out;
  }
}
