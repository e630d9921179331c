/** schemas/: the single source of truth for validation, TypeScript types and the API docs. */
export * from './agent-protocol';
export * from './core';
export { applyDefaults, pullPolicyFor } from './defaults';
export * from './ferry';
export { type KindInfo, kindByName, kindByPlural, kindInfo, kinds } from './kinds';
export * from './meta';
export * from './node';
export { openApiDocument } from './openapi';
export * from './pod';
export * from './policy';
export { bytes, cpuMillis, isQuantity, parseQuantity } from './quantity';
export * from './service';
export { MAX_DEPTH, precompile, validate } from './validate';
export * from './workloads';
