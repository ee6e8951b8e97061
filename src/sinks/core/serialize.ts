/**
 * One-at-a-time execution for a transport's operations (send, reopen, close): each call runs after the previous one
 * settled, whatever its outcome, and returns its own result or rejection.
 */
export type Serializer = <T>(fn: () => Promise<T>) => Promise<T>;

export function createSerializer(): Serializer {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const result = tail.then(fn);
    tail = result.catch(() => undefined);
    return result;
  };
}
