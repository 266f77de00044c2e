/** Every step of a benchmark is bounded, so a wedged engine or worker fails the run with a name instead of hanging it. */

export class StepTimeoutError extends Error {
  override name = 'StepTimeoutError';
}

/** Resolves or rejects like `promise`, or rejects after `ms` with an error naming the step. */
export async function withTimeout<T>(step: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StepTimeoutError(`${step} did not finish within ${formatSeconds(ms)}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An Error from anything thrown. */
export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
