/**
 * The addon's exported surface and error shape, without root: opening and inspecting an object file needs no
 * privileges. Skips (with the install-time reason) when the addon was not built.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NativeBinding } from '../../src/native/binding';
import { NATIVE_EXPORTS, NATIVE_PATHS, loadNative, nativeStatus } from '../../src/native/binding';
import { NATIVE_ERROR_CODES, isNativeError } from '../../src/native/errors';
import { MAPS, OP_MAX, PROGRAMS, RODATA } from '../../src/sensor/abi';

function addon(t: { skip(reason: string): void }): NativeBinding | undefined {
  const st = nativeStatus();
  if (!st.available) {
    t.skip(st.reason);
    return undefined;
  }
  return loadNative();
}

void test('the addon exports exactly the typed surface', (t) => {
  const b = addon(t);
  if (b === undefined) return;
  for (const name of NATIVE_EXPORTS) assert.ok(name in b, `missing export ${name}`);
  const extra = Object.keys(b).filter((k) => !(NATIVE_EXPORTS as readonly string[]).includes(k) && k !== 'BpfMap');
  assert.deepEqual(extra, [], 'exports not described by binding.ts');
  assert.equal(typeof b.BpfObject, 'function');
  assert.equal(typeof b.RingReader, 'function');
  assert.match(b.libbpfVersion(), /^\d+\.\d+$/);
  assert.ok(b.numPossibleCpus() >= 1);
  assert.equal(b.abiOpMax, OP_MAX, 'addon built from the same aegis_abi.h as the TS decoder');
});

void test('native error codes match src/native/errors.ts', (t) => {
  const b = addon(t);
  if (b === undefined) return;
  assert.deepEqual([...b.errorCodes].sort(), [...NATIVE_ERROR_CODES].sort());
});

void test('errors carry code and errno', (t) => {
  const b = addon(t);
  if (b === undefined) return;
  assert.throws(
    () => new b.BpfObject('/nonexistent/aegis.bpf.o'),
    (err: unknown) =>
      isNativeError(err) && err.code === 'AEGIS_ERR_BPF_OPEN' && err.errno === 2 && /nonexistent/.test(err.message),
  );
  assert.throws(
    () => b.openPinnedMap('/nonexistent/pin'),
    (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_BPF_OPEN' && err.errno === 2,
  );
  assert.throws(
    () => b.probeProgram(NATIVE_PATHS.probeObject, 'no_such_program'),
    (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_BPF_NOT_FOUND',
  );
  assert.throws(
    () => b.mountFs('ext4' as 'bpf', '/mnt'),
    (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_NATIVE_INVALID_ARG',
  );
});

void test('the sensor object opens without root: programs, maps and rodata are the ones the TS side names', (t) => {
  const b = addon(t);
  if (b === undefined) return;
  const obj = new b.BpfObject(NATIVE_PATHS.sensorObject);
  try {
    assert.equal(obj.state, 'opened');
    const progs = obj
      .programs()
      .map((p) => p.name)
      .sort();
    assert.deepEqual(
      progs,
      [...PROGRAMS.common, ...PROGRAMS.cgroup, ...PROGRAMS.ingress, ...PROGRAMS.lsm, ...PROGRAMS.tracepoint].sort(),
    );
    const maps = new Set(obj.maps().map((m) => m.name));
    for (const name of Object.values(MAPS)) assert.ok(maps.has(name), `map ${name}`);
    const rodata = obj
      .rodataVars()
      .map((v) => v.name)
      .sort();
    assert.deepEqual(rodata, Object.values(RODATA).sort());
    // wrong-size rodata and unknown names are refused with codes
    assert.throws(
      () => obj.setRodata(RODATA.selfTgid, Buffer.alloc(8)),
      (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_NATIVE_INVALID_ARG',
    );
    assert.throws(
      () => obj.setRodata('nope', Buffer.alloc(4)),
      (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_BPF_NOT_FOUND',
    );
    assert.throws(
      () => obj.setAutoload('nope', true),
      (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_BPF_NOT_FOUND',
    );
    // lifecycle: maps and attach need a loaded object
    assert.throws(
      () => obj.map(MAPS.stats),
      (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_BPF_STATE',
    );
    assert.throws(
      () => obj.attach('aegis_exec'),
      (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_BPF_STATE',
    );
  } finally {
    obj.destroy();
  }
  assert.equal(obj.state, 'destroyed');
  assert.throws(
    () => obj.programs(),
    (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_BPF_STATE',
  );
});

void test('BpfMap and RingReader cannot be constructed from JS without a real map', (t) => {
  const b = addon(t);
  if (b === undefined) return;
  const anyB = b as unknown as { BpfMap: new () => unknown };
  assert.throws(
    () => new anyB.BpfMap(),
    (err: unknown) => isNativeError(err) && err.code === 'AEGIS_ERR_NATIVE_INVALID_ARG',
  );
  assert.throws(
    () => new b.RingReader({} as never, () => undefined),
    (err: unknown) => err instanceof Error,
  );
});
