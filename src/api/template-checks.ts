/**
 * What saving a template checks beyond its own shape: the owner exists, and the workflow (with its defaults
 * written in) passes ComfyUI's input validation on the workers' node definitions — the check a submission
 * gets, so a template that can never run is refused when it is saved, not on every job made from it.
 */
import { ApiError } from '../errors.js';
import type { NodeTypeRegistry } from '../jobs/node-type-registry.js';
import { workflowWithDefaults } from '../jobs/templates.js';
import type { Template } from '../jobs/types.js';
import type { Store } from '../store/contract.js';
import { checkInputs, invalid } from './submit-job.js';

/** Throws 422 `validation_failed` for an unknown owner, 422 `workflow_invalid` with field paths for a bad input. */
export async function checkTemplateRunnable(
  ctx: {
    store: Pick<Store, 'getAccount'>;
    nodeTypes?: NodeTypeRegistry | undefined;
    config?: { modelLoaders?: readonly string[] | undefined } | undefined;
  },
  t: Pick<Template, 'workflow' | 'params'> & { account_id?: string | null | undefined },
): Promise<void> {
  if (
    t.account_id !== undefined &&
    t.account_id !== null &&
    (await ctx.store.getAccount(t.account_id)) === null
  ) {
    throw new ApiError('validation_failed', `No account ${t.account_id} to own the template.`, {
      errors: [{ path: 'body.account_id', message: 'no such account' }],
    });
  }
  if (ctx.nodeTypes === undefined) return;
  const { workflow, open } = workflowWithDefaults(t);
  const problems = checkInputs(ctx.nodeTypes, workflow, open, ctx.config?.modelLoaders);
  if (problems.length > 0) throw invalid(problems);
}
