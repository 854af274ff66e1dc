/**
 * A bounded set of model names kept in least-recently-used order: what one worker holds in VRAM, or the
 * files on its disk. A Map keeps insertion order, so re-inserting on use makes the first key the LRU one.
 * (lru-cache would do the bounding, but a capacity of 0 — "keeps nothing" — and a cheap ordered view for
 * the policy snapshot are simpler here.)
 */
export class ModelSet {
  private readonly items = new Map<string, true>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.size;
  }

  has(model: string): boolean {
    return this.items.has(model);
  }

  /** Marks a held model as just used; false when it is not held. */
  touch(model: string): boolean {
    if (!this.items.delete(model)) return false;
    this.items.set(model, true);
    return true;
  }

  /** Adds (or touches) a model; returns the model evicted to make room, if any. Capacity 0 keeps nothing. */
  add(model: string): string | null {
    if (this.capacity <= 0) return null;
    if (this.touch(model)) return null;
    let evicted: string | null = null;
    if (this.items.size >= this.capacity) {
      const lru = this.items.keys().next();
      if (lru.done !== true) {
        this.items.delete(lru.value);
        evicted = lru.value;
      }
    }
    this.items.set(model, true);
    return evicted;
  }

  /** Held models, least recently used first. */
  list(): string[] {
    return [...this.items.keys()];
  }
}
