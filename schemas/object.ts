/**
 * The object model every layer shares: the Kubernetes object shape (`apiVersion, kind, metadata,
 * spec, status`) and how objects are named. The ground floor: it imports nothing of ferry, and the
 * store, the API, the controllers and the agent all take these types from here.
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  generateName?: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Any stored object. Kind-specific types live in `schemas/` and are assignable to this. */
export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

export interface ObjectRef {
  kind: string;
  /** Omitted for cluster-scoped kinds (Node, Namespace, NodePool, Cloud). */
  namespace?: string;
  name: string;
}
