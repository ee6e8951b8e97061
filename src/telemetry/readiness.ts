/**
 * Readiness: named checks that components register (`sensor`, `sink.<name>`, …); `/ready` and the control
 * socket's `/v1/ready` report each by name. The daemon is ready when every registered check passes.
 *
 * Checks are synchronous and cheap: they read state that the component keeps up to date (a sink's `healthy` flag,
 * which sends and periodic healthchecks maintain; the sensor's `attached`). A probe request never does I/O.
 */

export type ReadinessResult =
  { readonly ready: true; readonly detail?: string } | { readonly ready: false; readonly reason: string };

export interface ReadinessEntry {
  readonly name: string;
  readonly ready: boolean;
  /** Why it is not ready, or a short state when it is. */
  readonly detail: string | undefined;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: readonly ReadinessEntry[];
}

export interface Readiness {
  /** Register a check; the returned function removes it. A name registered twice replaces the first check. */
  register(name: string, check: () => ReadinessResult): () => void;
  evaluate(): ReadinessReport;
}

export function createReadiness(): Readiness {
  const checks = new Map<string, () => ReadinessResult>();
  return {
    register(name, check) {
      checks.set(name, check);
      return () => {
        if (checks.get(name) === check) checks.delete(name);
      };
    },
    evaluate() {
      const entries: ReadinessEntry[] = [];
      for (const [name, check] of checks) {
        let result: ReadinessResult;
        try {
          result = check();
        } catch (err) {
          result = {
            ready: false,
            reason: `readiness check threw: ${err instanceof Error ? err.message : String(err)}`,
          };
        }
        entries.push(
          result.ready ? { name, ready: true, detail: result.detail } : { name, ready: false, detail: result.reason },
        );
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { ready: entries.every((e) => e.ready), checks: entries };
    },
  };
}

/** The `/ready` body: one line per check, `ok` or `not ready: reason`, then a summary line. */
export function formatReadiness(report: ReadinessReport): string {
  const lines = report.checks.map((c) =>
    c.ready
      ? `${c.name}: ok${c.detail !== undefined ? ` (${c.detail})` : ''}`
      : `${c.name}: not ready: ${c.detail ?? 'no reason given'}`,
  );
  const failing = report.checks.filter((c) => !c.ready).map((c) => c.name);
  lines.push(report.ready ? 'ready' : `not ready: ${failing.join(', ')}`);
  return lines.join('\n') + '\n';
}
