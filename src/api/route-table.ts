/**
 * Every route file, by the scope whose auth it runs behind (scopes/). A route inherits its scope's auth, so
 * adding a route file is one line in the right list; a route registered outside every scope fails the start.
 */
import type { RouteFile } from './context.js';
import { accountRoutes } from './routes/admin/accounts.js';
import { fleetRoutes, workerListRoutes } from './routes/admin/fleet.js';
import { keyRoutes } from './routes/admin/keys.js';
import { modelRoutes } from './routes/admin/models.js';
import { templateRoutes as adminTemplateRoutes } from './routes/admin/templates.js';
import { usageRoutes } from './routes/admin/usage.js';
import { webhookRoutes } from './routes/admin/webhooks.js';
import { workerTokenRoutes } from './routes/admin/worker-tokens.js';
import { docsRoutes } from './routes/docs.js';
import { eventRoutes } from './routes/events.js';
import { jobRoutes } from './routes/jobs.js';
import { opsRoutes } from './routes/ops.js';
import { templateRoutes } from './routes/templates.js';

/** No credentials: probes, metrics, /openapi.json and /docs. */
export const PUBLIC_ROUTES: readonly RouteFile[] = [opsRoutes, docsRoutes];

/** End users (account key + X-User-ID, or JWT), with CORS. */
export const JOB_ROUTES: readonly RouteFile[] = [jobRoutes, eventRoutes, templateRoutes];

/** Operators (admin key); mounted only when an admin key is set. */
export const ADMIN_ROUTES: readonly RouteFile[] = [
  accountRoutes,
  keyRoutes,
  usageRoutes,
  webhookRoutes,
  adminTemplateRoutes,
  workerListRoutes,
  workerTokenRoutes,
  modelRoutes,
  fleetRoutes,
];
