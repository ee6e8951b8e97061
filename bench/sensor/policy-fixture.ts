/**
 * A realistic policy for the kernel benchmarks: many path and inode rules the load never touches, so every open
 * pays the real lookups (inode hash, leaf pre-filter) without hitting a rule.
 */
import fs from 'node:fs';
import path from 'node:path';

export function benchPolicy(dir: string, count: number, extra = ''): string {
  const lines = ['version: 1', 'mode: enforce', 'rules:'];
  for (let i = 0; i < count; i++)
    lines.push(`  - { id: path-${i}, match: { path: /nonexistent/aegis-bench/secret-${i}.key }, action: KILL }`);
  for (let i = 0; i < count; i++) {
    const f = path.join(dir, `inode-target-${i}`);
    fs.writeFileSync(f, '');
    lines.push(`  - { id: inode-${i}, match: { inode: ${f} }, action: KILL }`);
  }
  return `${lines.join('\n')}\n${extra}`;
}
