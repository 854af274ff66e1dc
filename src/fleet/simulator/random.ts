/** Seedable randomness and the distributions the simulator draws from. */

/** mulberry32: a small, fast, seedable generator; plenty for workload synthesis. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box-Muller). */
export function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** A Poisson draw (Knuth for small means, normal approximation above 50). */
export function poisson(rand: () => number, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(rand)));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rand();
  while (p > limit) {
    k += 1;
    p *= rand();
  }
  return k;
}

/** Draws from a distribution given by points of its quantile function, interpolating linearly between them. */
export function quantileSampler(
  points: ReadonlyArray<readonly [number, number]>,
): (rand: () => number) => number {
  return (rand) => {
    const u = rand();
    for (let i = 1; i < points.length; i++) {
      const [q1, v1] = points[i]!;
      const [q0, v0] = points[i - 1]!;
      if (u <= q1) return v0 + ((u - q0) / (q1 - q0)) * (v1 - v0);
    }
    return points[points.length - 1]![1];
  };
}

/**
 * Cold start (container up + model loaded) in seconds: p50 22.7, p90 42, p99 52 as measured for the service
 * this replaces; the ends (8 s, 60 s) are assumptions.
 */
export const coldStartSeconds = quantileSampler([
  [0, 8],
  [0.5, 22.7],
  [0.9, 42],
  [0.99, 52],
  [1, 60],
]);

/**
 * Job GPU time in seconds: lognormal with median 23 and mean 28.7 (σ = 0.666), which gives p95 ≈ 69 s and
 * CV ≈ 0.75, matching the public trace's 23 / 28.7 / 69 / 0.73.
 */
export function jobSeconds(rand: () => number): number {
  return Math.max(1, Math.exp(Math.log(23) + 0.666 * normal(rand)));
}
