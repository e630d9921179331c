/**
 * The parts of the agent protocol (schemas/agent-protocol.ts) that say where traffic goes: a
 * Service's routes as the node's proxy and DNS server see them, and the built-in ingress' table.
 * Plain types: the server builds them, the agent only reads them, so no schema validates them.
 */
/**
 * One Service as the node's proxy and DNS server see it (kube-proxy's and CoreDNS's view of a
 * Service and its Endpoints), as the endpoints controller materializes it. Fields added later are
 * optional, so old agents ignore them.
 */
export interface ServiceRoute {
  namespace: string;
  name: string;
  /** `spec.type`; absent means ClusterIP. */
  type?: string;
  /** The Service's cluster IP (what its DNS name answers), `None` for a headless Service. */
  clusterIP?: string;
  /** ExternalName Services: the name DNS answers with a CNAME; such a route has no ports to proxy. */
  externalName?: string;
  ports: RoutePort[];
  /**
   * Headless Services (`clusterIP: None`): the pods DNS answers with, ready ones only unless
   * `publishNotReadyAddresses`. `hostname`/`subdomain` are the pod's (StatefulSet pods have both),
   * giving `hostname.subdomain.ns.svc.<domain>` records.
   */
  pods?: RoutePod[];
}

export interface RoutePod {
  /** The address a client on the asking node dials (the pod's IP on its own node's network). */
  ip: string;
  nodeName?: string;
  hostname?: string;
  subdomain?: string;
}

export interface RoutePort {
  name?: string;
  /** The Service's port (what `<NAME>_SERVICE_PORT` is in Kubernetes, and what the cluster IP serves). */
  port: number;
  /** Where every node listens for this port; absent when the Service has none (headless). */
  nodePort?: number;
  protocol: string;
  /** Ready endpoints: a node address and the host port the pod's container port is published on. */
  endpoints: RouteEndpoint[];
}

export interface RouteEndpoint {
  /** The pod's node address. */
  ip: string;
  /** The host port the pod's container port is published on. */
  port: number;
  /**
   * The pod's own IP and container port behind that host port: an agent whose machine holds the
   * pod's bridge too (local mode) sends there directly; others, and older agents, ignore them.
   */
  podIP?: string;
  podPort?: number;
}

/**
 * The built-in ingress' table (agent/ingress/), the same for every node: every rule of the
 * Ingresses of ferry's class, oldest Ingress first (the first of two equal rules wins, as
 * ingress-nginx lets the oldest Ingress win), with the Services they send to. The agent finds each
 * Service's endpoints in the routes it holds. Sent whole when its hash moves.
 */
export interface IngressTable {
  rules: IngressPathRule[];
  /** `spec.defaultBackend`s, oldest Ingress first, with the hosts their Ingress has rules for. */
  defaults: IngressDefault[];
  /** Certificates by host (`spec.tls`), from `kubernetes.io/tls` Secrets: PEM, kept in memory only. */
  tls: IngressCert[];
}

export interface IngressServiceRef {
  namespace: string;
  name: string;
  /** The Service port's number or name. */
  port: number | string;
}

export interface IngressPathRule {
  /** `namespace/name` of the Ingress (logs, conflicts). */
  ingress: string;
  /** Absent: every host. `*.foo.com`: one label in front of foo.com. */
  host?: string;
  path: string;
  /** ImplementationSpecific is served as Prefix. */
  pathType: 'Exact' | 'Prefix';
  backend: IngressServiceRef;
}

export interface IngressDefault {
  ingress: string;
  /** The hosts the Ingress has rules for ('' for its host-less rules); empty when it has no rules. */
  hosts: string[];
  backend: IngressServiceRef;
}

export interface IngressCert {
  ingress: string;
  /** Empty: the certificate for connections whose SNI name no other entry covers. */
  hosts: string[];
  cert: string;
  key: string;
}
