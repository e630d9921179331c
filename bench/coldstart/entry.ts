/**
 * The bundle the cold-start bench loads: the Lambda entry points exactly as `npm run build` bundles
 * them, plus the validator registry's `precompile` (the eager baseline calls it where the API used
 * to, before its first event) and `compiledKinds` (what a container compiled), which must come
 * from the same bundle to see the same cache.
 */
export { api, bootstrap, controllers } from '../../functions/runtime/lambda';
export { compiledKinds, precompile } from '../../schemas/validate';
