/** Every migration in order. Append-only: add the next number at the end. */
import { migration001 } from './001-initial.js';
import { migration002 } from './002-server-functions.js';
import { migration003 } from './003-file-node-allowlist.js';
import { migration004 } from './004-model-placement.js';
import { migration005 } from './005-template-owner.js';
import { migration006 } from './006-pool-equality.js';
import { migration007 } from './007-hot-path.js';
import { migration008 } from './008-lease-names.js';
import { migration009 } from './009-claim-scale.js';
import { migration010 } from './010-complete-outputs.js';
import { migration011 } from './011-prefetch-refused.js';
import { migration012 } from './012-attempt-refunds.js';
import { migration013 } from './013-finish-with-progress.js';
import { migration014 } from './014-claim-ids.js';
import type { Migration } from './migration.js';

export const MIGRATIONS: readonly Migration[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
  migration006,
  migration007,
  migration008,
  migration009,
  migration010,
  migration011,
  migration012,
  migration013,
  migration014,
];
