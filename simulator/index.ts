/**
 * The Message Trace simulator: a stand-in for Microsoft Entra ID, Microsoft Graph message trace
 * and the legacy Reporting Web Service, faithful to /work/shared/reference/message-trace-api.md
 * (quirks included; every UNCONFIRMED behaviour is an option). Use it in-process from tests
 * (`startSimulator`) or from the command line (`npm run simulator -- --help`).
 */
export { startSimulator, GRAPH_RESOURCE, EXCHANGE_RESOURCE, GRAPH_PERMISSION, RWS_PERMISSION } from './server';
export type { Simulator, SimulatorTenantStats, GroundTruthOptions, DetailGroundTruthOptions, RowWithDetails } from './server';
export { parseSimulatorOptions, SimulatorOptionsError, distributionListFromEnv, DISTRIBUTION_LIST_ENV } from './options';
export type { SimulatorOptions, SimulatorTenantOptions, TrafficPatch, ResolvedSimulatorOptions, GraphBehaviourOptions, ResolvedGraphOptions, RwsBehaviourOptions } from './options';
export { FAULT_KINDS } from './faults';
export type { FaultRule, FaultKind, FaultApi } from './faults';
export { BUCKET_MS, defaultTrafficOptions } from './traffic';
export type { TrafficOptions, GraphMessageTraceRow, FinalStatus, TraceStatus, ReceivedPrecision, InjectedRow, DistributionListOptions } from './traffic';
export { encodeSkipToken, decodeSkipToken, type GraphSkipToken } from './graph';
export { EntraSimulator } from './entra';
export { DEFAULT_DETAIL_EVENT_NAMES } from './detail';
export type { DetailEvent, DetailEventNames } from './detail';
