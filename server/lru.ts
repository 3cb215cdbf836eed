/**
 * A least-recently-used map bounded by total cost (bytes, or 1 per entry for a count bound).
 * `onEvict` lets owners release what an entry holds (close a slide, a store).
 */
export interface LruOptions<V> {
  /** Largest total cost kept. */
  capacity: number;
  /** Cost of one value (default 1: a count bound). */
  cost?: (value: V) => number;
  onEvict?: (key: string, value: V) => void;
}

export class Lru<V> {
  private readonly map = new Map<string, { value: V; cost: number }>();
  private total = 0;

  constructor(private readonly options: LruOptions<V>) {}

  get size(): number {
    return this.map.size;
  }

  /** Total cost held. */
  get used(): number {
    return this.total;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: V): void {
    this.delete(key);
    const cost = this.options.cost?.(value) ?? 1;
    // An entry larger than the whole cache is not kept (it would evict everything, then itself).
    if (cost > this.options.capacity) {
      this.options.onEvict?.(key, value);
      return;
    }
    this.map.set(key, { value, cost });
    this.total += cost;
    while (this.total > this.options.capacity) {
      const [k, e] = this.map.entries().next().value as [string, { value: V; cost: number }];
      this.map.delete(k);
      this.total -= e.cost;
      this.options.onEvict?.(k, e.value);
    }
  }

  delete(key: string): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    this.map.delete(key);
    this.total -= e.cost;
    this.options.onEvict?.(key, e.value);
    return true;
  }

  clear(): void {
    for (const key of [...this.map.keys()]) this.delete(key);
  }

  values(): IterableIterator<V> {
    return [...this.map.values()].map((e) => e.value)[Symbol.iterator]();
  }
}
