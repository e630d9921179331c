/** schemas/: the single source of truth for validation, TypeScript types and the API docs. */
export * from './agent-protocol';
export * from './core';
export { applyDefaults, pullPolicyFor } from './defaults';
export { INT32_MAX, INT32_MIN } from './dsl';
export * from './ferry';
export { type KindInfo, kindByName, kindByPlural, kindInfo, kinds } from './kinds';
export * from './meta';
export * from './node';
export { dropNulls } from './nulls';
export { openApiDocument } from './openapi';
export * from './pod';
export { bytes, cpuMillis, isQuantity, parseQuantity } from './quantity';
export { immutableChanges as updateProblems } from './rules/immutable';
export * from './service';
export { MAX_DEPTH, MAX_OBJECT_BYTES, sizeUpTo, treeProblems } from './tree';
export { precompile, validate } from './validate';
export * from './workloads';
export { KUBERNETES_YAML } from './yaml';
