// One request through the cluster's API endpoint (the load balancer), as any client makes it: a new connection, no
// retry, a short deadline. The availability meter calls it at a light rate while a run replaces machines.
export interface ApiProbePort {
  /** Resolves when the API answered 200; rejects with the reason otherwise. */
  probe(): Promise<void>;
  close(): void;
}
