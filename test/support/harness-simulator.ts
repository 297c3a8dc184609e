/**
 * The simulator the worker-harness tests run against: https, its clock read from whichever harness
 * runs now (`now`), and its CA trusted by this process. One per test file: simulators share a CA
 * subject, so a process trusts only the first one it adds.
 */
import tls from 'node:tls';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator';

export async function startHarnessSimulator(options: Omit<SimulatorOptions, 'https' | 'clock'>, now: () => number): Promise<Simulator> {
  const sim = await startSimulator({
    ...options,
    https: true,
    clock: { now, toRealMs: () => 0, sleep: async () => {}, describe: () => 'test' },
  } as SimulatorOptions);
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), sim.caCertificatePem!]);
  return sim;
}

/** The fields a source needs to reach tenant `index` of the simulator (client secret from env:SIM_SECRET). */
export function simulatorTenant(sim: Simulator, index = 0): Record<string, unknown> {
  const t = sim.tenants[index]!;
  return {
    tenantId: t.tenantId,
    endpoints: { authorityHost: sim.authorityHost, graphBaseUrl: sim.graphBaseUrl },
    auth: { method: 'clientSecret', clientId: t.clientId, clientSecretRef: 'env:SIM_SECRET' },
  };
}
