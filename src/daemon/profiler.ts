/**
 * A CPU profile of this process for `aegisbpf debug profile`: the V8 sampling profiler through node:inspector's
 * in-process session (no inspector port is opened), for the given time. The result is the `.cpuprofile` JSON that
 * Chrome DevTools and speedscope open.
 */
import inspector from 'node:inspector/promises';

export const MAX_PROFILE_MILLIS = 10 * 60 * 1000;
let running = false;

export async function captureCpuProfile(durationMillis: number, signal?: AbortSignal): Promise<unknown> {
  if (running) throw new Error('a CPU profile is already being taken');
  running = true;
  const session = new inspector.Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(durationMillis, MAX_PROFILE_MILLIS));
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const { profile } = await session.post('Profiler.stop');
    return profile;
  } finally {
    session.disconnect();
    running = false;
  }
}
