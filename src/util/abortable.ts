/**
 * `work`, or its signal's reason once `signal` aborts first: the caller stops waiting for a call that takes no
 * signal of its own (a DNS lookup, a storage read). The work itself goes on; the listener goes with it.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
