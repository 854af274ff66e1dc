/**
 * docs/grafana-dashboard.json is built on exactly the series serve exports: every panel query and template
 * variable names only metrics a running control plane lists on /metrics, and every `arrakis_` series it
 * lists (job, worker, fleet, model, webhook and input-fetch series) has a panel.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

const DASHBOARD = new URL('../../docs/grafana-dashboard.json', import.meta.url);

/** PromQL words that are not series names (aggregators too: `sum by (x) (...)` puts a word between). */
const KEYWORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression reads. */
function seriesNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1') // label lists
    .replace(/\[[^\]]*\]/g, '') // range selectors
    .replace(/\$\w+/g, ''); // Grafana variables
  const names: string[] = [];
  for (const m of stripped.matchAll(/(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\()?)/g)) {
    if (m[1] === '(' || KEYWORDS.has(m[0].toLowerCase())) continue; // a function call or a keyword
    names.push(m[0]);
  }
  return names;
}

interface Panel {
  title?: string;
  type: string;
  targets?: Array<{ expr: string }>;
  panels?: Panel[];
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Sample names a scrape can contain: histograms add _bucket, _sum and _count. */
function exportedNames(scrape: string): Set<string> {
  const names = new Set<string>();
  for (const m of scrape.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = m;
    if (name === undefined) continue;
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    } else names.add(name);
  }
  return names;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

describe('the Grafana dashboard', () => {
  it('parses series names out of PromQL', () => {
    expect(
      seriesNames(
        'histogram_quantile(0.95, sum by (le, pool) (rate(arrakis_job_queue_wait_seconds_bucket{pool=~"$pool"}[5m])))',
      ),
    ).toEqual(['arrakis_job_queue_wait_seconds_bucket']);
    expect(seriesNames('sum(a_total) / on (x) group_left b unless c offset 5m')).toEqual([
      'a_total',
      'b',
      'c',
    ]);
  });

  it('queries only series that serve exports', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: Panel[];
      templating: { list: Array<{ query?: { query?: string } | string }> };
    };
    const exported = exportedNames(await (await fetch(`${server.url}/metrics`)).text());
    const used = new Set<string>();
    for (const panel of allPanels(dashboard.panels)) {
      if (panel.type === 'row') continue;
      expect(panel.targets?.length ?? 0, `panel "${panel.title}" has a query`).toBeGreaterThan(0);
      for (const t of panel.targets ?? []) {
        const names = seriesNames(t.expr);
        expect(names.length, t.expr).toBeGreaterThan(0);
        for (const name of names) {
          expect(exported.has(name), `"${panel.title}" reads ${name}, which /metrics does not export`).toBe(
            true,
          );
          used.add(name);
        }
      }
    }
    for (const v of dashboard.templating.list) {
      const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      for (const m of q.matchAll(/label_values\((\w+)/g)) expect(exported.has(m[1] ?? '')).toBe(true);
    }
    const families = [...used].map((n) => n.replace(/_(bucket|sum|count)$/, ''));
    for (const expected of [
      'arrakis_jobs_finished_total',
      'arrakis_job_queue_wait_seconds',
      'arrakis_job_run_time_seconds',
      'arrakis_jobs',
      'arrakis_workers',
      'arrakis_fleet_target_workers',
      'arrakis_fleet_workers',
      'arrakis_fleet_cost_dollars',
      'arrakis_webhook_deliveries_total',
      'arrakis_webhook_attempts_total',
      'arrakis_input_fetches_total',
      'arrakis_http_request_duration_seconds',
      'arrakis_model_loads_total',
      'arrakis_model_load_seconds',
    ]) {
      expect(families, expected).toContain(expected);
    }
    // A series added to /metrics later needs a panel too; only the exporter flag (which replica exports the
    // database gauges, bookkeeping for `sum()`) is not charted.
    const missing = [...exported]
      .map((n) => n.replace(/_(bucket|sum|count)$/, ''))
      .filter(
        (n) => n.startsWith('arrakis_') && n !== 'arrakis_database_gauges_exporter' && !families.includes(n),
      );
    expect([...new Set(missing)], 'exported series without a panel').toEqual([]);
  });
});
