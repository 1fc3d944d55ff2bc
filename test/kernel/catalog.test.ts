import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/kernel/catalog.js';
import { MeerkatMachine } from '../../src/kernel/index.js';
import { TRANSITIONS } from '../../src/machine/index.js';

describe('command catalog', () => {
  it('lists the 49 seed commands plus the 3 HEAD queries, each once', () => {
    expect(COMMANDS).toHaveLength(52);
    expect(new Set(COMMANDS.map((c) => c.name)).size).toBe(52);
    const seedGroups = COMMANDS.filter((c) => c.group !== 'queries');
    expect(seedGroups).toHaveLength(49);
    const count = (g: string): number => COMMANDS.filter((c) => c.group === g).length;
    expect([count('ensure-session'), count('session'), count('drain'), count('drain-local'), count('control'), count('ingress'), count('legacy-run')]).toEqual([1, 18, 2, 3, 20, 2, 3]);
  });

  it('every command names a real MeerkatMachine method and real reducer inputs', () => {
    const kernel = MeerkatMachine.inMemory();
    for (const c of COMMANDS) {
      const [group, method] = c.method.split('.') as [string, string];
      const target = (kernel as unknown as Record<string, Record<string, unknown>>)[group];
      expect(typeof target?.[method], c.method).toBe('function');
      for (const input of c.inputs) expect(Object.keys(TRANSITIONS), `${c.name} → ${input}`).toContain(input);
    }
  });

  it('docs/commands.md is generated from the current catalog and tests', () => {
    expect(() => execFileSync('npx', ['tsx', 'scripts/gen-commands-doc.ts', '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
