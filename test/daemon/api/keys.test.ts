/** API keys (src/daemon/api/keys.ts): what authenticates, what does not, and what the keys file holds. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_KEYS, authenticate, keyEdits } from '../../../src/daemon/api/keys';
import type { KeysDocument } from '../../../src/daemon/api/keys';
import { createFailureLimiter } from '../../../src/daemon/api/rate-limit';

const t0 = new Date('2026-12-01T00:00:00Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);

void test('a created key authenticates with its role; one changed character, another id, expiry, revocation do not', () => {
  let doc: KeysDocument = EMPTY_KEYS;
  const created = keyEdits.createKey(doc, 'ci', 'operator', at(60_000), t0);
  doc = created.doc;
  const key = created.result;
  assert.match(key, /^aegis_ak_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(key.slice(26), 'base64url').length, 32, '256 random bits');
  assert.ok(!JSON.stringify(doc).includes(key.slice(26)), 'only the hash is stored');
  const ok = authenticate(doc, key, t0);
  assert.ok(
    ok.ok && ok.name === 'ci' && ok.permissions.includes('blocklist:write') && !ok.permissions.includes('policy:apply'),
  );
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  assert.deepEqual(authenticate(doc, key.slice(0, -1) + last, t0), { ok: false, reason: 'unknown' });
  assert.deepEqual(authenticate(doc, undefined, t0), { ok: false, reason: 'missing' });
  assert.deepEqual(authenticate(doc, 'aegis_ak_x', t0), { ok: false, reason: 'malformed' });
  assert.deepEqual(authenticate(doc, key, at(60_000)), { ok: false, reason: 'expired' });
  const revoked = keyEdits.revokeKey(doc, 'ci', at(1)).doc;
  assert.deepEqual(authenticate(revoked, key, at(2)), { ok: false, reason: 'revoked' });
});

void test('rotation: old and new keys both valid until the overlap ends, then only the new; custom roles and assignment', () => {
  const doc = keyEdits.createKey(EMPTY_KEYS, 'ci', 'viewer', undefined, t0);
  const old = doc.result;
  const rotated = keyEdits.rotateKey(doc.doc, 'ci', 7 * 86_400_000, at(1000));
  const fresh = rotated.result.key;
  assert.ok(authenticate(rotated.doc, old, at(2000)).ok);
  assert.ok(authenticate(rotated.doc, fresh, at(2000)).ok);
  assert.deepEqual(authenticate(rotated.doc, old, at(1000 + 7 * 86_400_000)), { ok: false, reason: 'expired' });
  assert.ok(authenticate(rotated.doc, fresh, at(1000 + 7 * 86_400_000)).ok);

  const role = keyEdits.createRole(rotated.doc, 'auditor', ['audit:read']).doc;
  assert.throws(() => keyEdits.createRole(role, 'bad', ['audit:read', 'root:all']), /unknown permission\(s\) root:all/);
  assert.throws(() => keyEdits.createRole(role, 'viewer', ['audit:read']), /exists/);
  const assigned = keyEdits.assignRole(role, 'ci', 'auditor').doc;
  const a = authenticate(assigned, fresh, at(3000));
  assert.ok(a.ok && a.role === 'auditor');
  assert.deepEqual(a.ok ? a.permissions : [], ['audit:read']);
  assert.throws(() => keyEdits.assignRole(role, 'ci', 'nope'), /no role 'nope'/);
  assert.throws(() => keyEdits.createKey(role, 'ci', 'viewer', undefined, t0), /exists/);
  assert.equal(assigned.keys.length, 1);
});

void test('failure limiter: per address, a sliding minute, bounded', () => {
  const l = createFailureLimiter(3);
  for (let i = 0; i < 3; i++) l.recordFailure('10.0.0.1', 1000 + i);
  assert.equal(l.blockedFor('10.0.0.2', 1010), 0, 'other addresses unaffected');
  assert.ok(l.blockedFor('10.0.0.1', 1010) >= 59);
  assert.equal(l.blockedFor('10.0.0.1', 1000 + 60_001), 0, 'the window slides');
});
