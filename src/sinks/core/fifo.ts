/**
 * A FIFO queue with O(1) push and shift (Array#shift is O(n) on large arrays). Items live in fixed-size segments.
 */
const SEGMENT = 4096;

export class Fifo<T> {
  private segments: T[][] = [[]];
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    let last = this.segments[this.segments.length - 1] as T[];
    if (last.length === SEGMENT) {
      last = [];
      this.segments.push(last);
    }
    last.push(item);
    this.count++;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : (this.segments[0] as T[])[this.head];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const first = this.segments[0] as T[];
    const item = first[this.head] as T;
    (first as (T | undefined)[])[this.head] = undefined; // release the reference
    this.head++;
    this.count--;
    if (this.head === first.length) {
      if (this.segments.length > 1) this.segments.shift();
      else first.length = 0;
      this.head = 0;
    }
    return item;
  }

  /** Remove and return everything, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }
}
