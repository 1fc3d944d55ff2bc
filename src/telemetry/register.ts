/**
 * Side-effect entry point for `node --import` (e.g. `node --import ./dist/src/telemetry/register.js app.js`):
 * starts telemetry from the `OTEL_*` environment before the application graph is loaded.
 * src/server/main.ts does the same itself, so `npm start` does not need it.
 */
import { startTelemetry } from './setup.js';

await startTelemetry();
