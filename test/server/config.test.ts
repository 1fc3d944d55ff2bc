/**
 * Server configuration from the environment: defaults, and refusals that name the variable.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config.js';

describe('loadConfig', () => {
  it('defaults: replica id is the host name, advertised at the listen port; 10 s leases renewed every 3 s, handed over after 30 s', () => {
    const c = loadConfig({ MEERKAT_LISTEN: '0.0.0.0:6000' });
    expect(c.replica).toEqual({ id: hostname(), advertiseAddress: `${hostname()}:6000`, leaseTtlMs: 10_000, leaseRenewMs: 3_000, handoverIdleMs: 30_000 });
    expect(loadConfig({ MEERKAT_LEASE_HANDOVER_IDLE_MS: '0' }).replica.handoverIdleMs).toBe(0);
    expect(loadConfig({ MEERKAT_LEASE_HANDOVER_IDLE_MS: '2500' }).replica.handoverIdleMs).toBe(2_500);
  });

  it('takes the replica id, the advertised address (host name, IPv4 or bracketed IPv6) and the lease timings', () => {
    const env = { MEERKAT_REPLICA_ID: 'kernel-7', MEERKAT_LEASE_TTL_MS: '20000', MEERKAT_LEASE_RENEW_MS: '5000' };
    expect(loadConfig({ ...env, MEERKAT_ADVERTISE_ADDR: '10.0.3.7:50051' }).replica).toEqual({
      id: 'kernel-7',
      advertiseAddress: '10.0.3.7:50051',
      leaseTtlMs: 20_000,
      leaseRenewMs: 5_000,
      handoverIdleMs: 30_000,
    });
    expect(loadConfig({ MEERKAT_ADVERTISE_ADDR: 'kernel-7.kernel.meerkat.svc:50051' }).replica.advertiseAddress).toBe('kernel-7.kernel.meerkat.svc:50051');
    expect(loadConfig({ MEERKAT_ADVERTISE_ADDR: '[fd00::7]:50051' }).replica.advertiseAddress).toBe('[fd00::7]:50051');
  });

  it.each(['10.0.3.7', '10.0.3.7:', ':50051', '10.0.3.7:0', '10.0.3.7:70000', 'http://10.0.3.7:50051', 'a b:1'])(
    'refuses MEERKAT_ADVERTISE_ADDR=%s, naming the variable',
    (value) => {
      expect(() => loadConfig({ MEERKAT_ADVERTISE_ADDR: value })).toThrow(/MEERKAT_ADVERTISE_ADDR must be host:port/);
    },
  );

  it('refuses a renew interval that is not below the lease lifetime, and a replica id with spaces', () => {
    expect(() => loadConfig({ MEERKAT_LEASE_TTL_MS: '3000', MEERKAT_LEASE_RENEW_MS: '3000' })).toThrow(/MEERKAT_LEASE_RENEW_MS/);
    expect(() => loadConfig({ MEERKAT_LEASE_TTL_MS: 'soon' })).toThrow(/MEERKAT_LEASE_TTL_MS must be/);
    expect(() => loadConfig({ MEERKAT_REPLICA_ID: 'kernel 7' })).toThrow(/MEERKAT_REPLICA_ID/);
    expect(() => loadConfig({ MEERKAT_LEASE_HANDOVER_IDLE_MS: '-1' })).toThrow(/MEERKAT_LEASE_HANDOVER_IDLE_MS must be/);
    expect(() => loadConfig({ MEERKAT_LEASE_HANDOVER_IDLE_MS: String(24 * 60 * 60 * 1000 + 1) })).toThrow(/MEERKAT_LEASE_HANDOVER_IDLE_MS must be 0/);
  });
});
