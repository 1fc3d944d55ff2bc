/**
 * `npm run migrate`: migrates the kernel's database to the latest schema and prints what ran.
 * The program is `src/store/migrate-main.ts` (so `npm run build` compiles it to
 * `dist/src/store/migrate-main.js`, which the migration Job of `deploy/base` runs); its comment lists
 * the options (`--database-url`, `--data-dir`).
 */
import '../src/store/migrate-main.js';
