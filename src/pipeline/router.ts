/**
 * Routes: named conditions, each sending matching events to one or more sinks. An event may take several routes;
 * each sink receives it once, in input order. With no routes configured every event goes to every sink. Events that
 * match no route are counted (`unrouted`), never silently lost.
 */
import type { AegisEvent } from '../event/types';
import type { Predicate } from './expr';
import { compileExpression } from './expr';

export interface RouteSpec {
  readonly name: string;
  readonly when: string | undefined;
  readonly sinks: readonly string[];
}

export interface Router {
  /** Per sink name, the events it gets (only sinks with at least one event), and how many matched no route. */
  route(events: readonly AegisEvent[]): { readonly bySink: Map<string, AegisEvent[]>; readonly unrouted: number };
}

export function createRouter(routes: readonly RouteSpec[], allSinks: readonly string[]): Router {
  if (routes.length === 0) {
    return {
      route(events) {
        const bySink = new Map<string, AegisEvent[]>();
        if (events.length > 0) for (const s of allSinks) bySink.set(s, events as AegisEvent[]);
        return { bySink, unrouted: 0 };
      },
    };
  }
  // Per sink: the predicates of the routes that feed it (undefined = a route with no condition: take everything).
  const feeds = new Map<string, (Predicate | undefined)[]>();
  const compiled = routes.map((r) => ({
    test: r.when === undefined ? undefined : compileExpression(r.when).test,
    sinks: r.sinks,
  }));
  for (const r of compiled) for (const s of r.sinks) (feeds.get(s) ?? feeds.set(s, []).get(s)!).push(r.test);
  const entries = [...feeds.entries()];
  const anyRoute = compiled.map((r) => r.test);
  return {
    route(events) {
      const bySink = new Map<string, AegisEvent[]>();
      for (const [sink, tests] of entries) {
        const takesAll = tests.includes(undefined);
        const picked = takesAll
          ? (events as AegisEvent[])
          : events.filter((e) => tests.some((t) => (t as Predicate)(e)));
        if (picked.length > 0) bySink.set(sink, picked);
      }
      let unrouted = 0;
      if (!anyRoute.includes(undefined))
        for (const e of events) if (!anyRoute.some((t) => (t as Predicate)(e))) unrouted++;
      return { bySink, unrouted };
    },
  };
}
