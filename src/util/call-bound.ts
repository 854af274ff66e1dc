/**
 * One call's overall time bound that leaves nothing behind: an `AbortSignal.timeout` (and `AbortSignal.any` over
 * it) stays pending for its whole length after the call has ended, which over many calls (an hour per ComfyUI
 * `/view` download, 5.5 minutes per remote agent transfer) holds a timer and its signals per call long past it.
 */

/** An abort signal for one call, and `end` to clear its timer and listeners once the call is over. */
export interface CallBound {
  readonly signal: AbortSignal;
  /** Clears the timer and the listeners on the outer signals; safe to call more than once. */
  end(): void;
}

/**
 * Aborts after `limitMs` (with the TimeoutError that AbortSignal.timeout gives), or as soon as any of `outers`
 * aborts (with its reason). `end` clears its timer and its listeners on `outers` as soon as the call is over, so
 * neither outlives it. The timer is unref'd: a bound alone does not keep the process up.
 */
export function callBound(limitMs: number, ...outers: readonly (AbortSignal | undefined)[]): CallBound {
  const controller = new AbortController();
  const listening: { signal: AbortSignal; onAbort: () => void }[] = [];
  const timer = setTimeout(() => {
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  }, limitMs);
  timer.unref();
  const end = (): void => {
    clearTimeout(timer);
    for (const { signal, onAbort } of listening.splice(0)) signal.removeEventListener('abort', onAbort);
  };
  for (const outer of outers) {
    if (outer === undefined) continue;
    if (outer.aborted) {
      controller.abort(outer.reason);
      break;
    }
    const onAbort = (): void => controller.abort(outer.reason);
    outer.addEventListener('abort', onAbort, { once: true });
    listening.push({ signal: outer, onAbort });
  }
  // Once aborted the bound has done its work: nothing is left to fire.
  if (controller.signal.aborted) end();
  else controller.signal.addEventListener('abort', end, { once: true });
  return { signal: controller.signal, end };
}
