/**
 * An in-memory stand-in for a native map handle, for testing the policy engine's all-or-nothing logic (which is
 * plain JS) including failures the kernel will not produce on demand. The kernel path itself is tested against
 * real maps in sensor-kernel.test.ts.
 */
import type { NativeMap, NativeMapEntries } from '../../src/native/binding';

export interface MemoryMap extends NativeMap {
  /** Make the n-th next update throw (0 = the next one). */
  failUpdateAfter(n: number, code?: string): void;
  readonly store: Map<string, Buffer>;
}

export function memoryMap(name: string, keySize: number, valueSize: number, maxEntries: number): MemoryMap {
  const store = new Map<string, Buffer>();
  let failIn = -1;
  let failCode = 'AEGIS_ERR_MAP_OP';
  const err = (code: string, errno: number, message: string): Error =>
    Object.assign(new Error(message), { code, errno });
  return {
    name,
    type: 1,
    keySize,
    valueSize,
    valueBytes: valueSize,
    maxEntries,
    percpu: false,
    store,
    failUpdateAfter(n, code = 'AEGIS_ERR_MAP_OP') {
      failIn = n;
      failCode = code;
    },
    lookup(key) {
      return store.get(key.toString('hex')) ?? null;
    },
    update(key, value) {
      if (failIn === 0) {
        failIn = -1;
        throw err(failCode, failCode === 'AEGIS_ERR_MAP_FULL' ? 7 : 5, `injected failure on ${name}`);
      }
      if (failIn > 0) failIn--;
      const hex = key.toString('hex');
      if (!store.has(hex) && store.size >= maxEntries) throw err('AEGIS_ERR_MAP_FULL', 7, `map '${name}' is full`);
      store.set(hex, Buffer.from(value));
    },
    delete(key) {
      return store.delete(key.toString('hex'));
    },
    entries(): NativeMapEntries {
      const keys = [...store.keys()].map((h) => Buffer.from(h, 'hex'));
      return { count: keys.length, keys: Buffer.concat(keys), values: Buffer.concat([...store.values()]) };
    },
    close() {
      store.clear();
    },
  };
}
