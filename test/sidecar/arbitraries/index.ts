import fc from 'fast-check';
import { healthArb } from './health.js';
import { lifecycleArb } from './lifecycle.js';
import { readinessArb } from './readiness.js';
import { retirementArb } from './retirement.js';
import { seamArb } from './seam.js';
import { spawnArb } from './spawn.js';
import { wiringArb } from './wiring.js';
import { workArb } from './work.js';
import type { Tmpl } from './pool.js';

export type { Tmpl } from './pool.js';

/** A template of any MobMachine input, weighted towards the spawn ladder and the seam. */
export const anyMobInput: fc.Arbitrary<Tmpl> = fc.oneof(
  { weight: 10, arbitrary: spawnArb },
  { weight: 3, arbitrary: lifecycleArb },
  { weight: 4, arbitrary: readinessArb },
  { weight: 3, arbitrary: workArb },
  { weight: 7, arbitrary: retirementArb },
  { weight: 3, arbitrary: wiringArb },
  { weight: 2, arbitrary: healthArb },
  { weight: 5, arbitrary: seamArb },
);
