/** What the kv bench drives: one client of one system, shared by all the workers of a point. */
export interface KvDriver {
  name: string;
  put(key: Buffer, value: Buffer): Promise<void>;
  /** The value, or undefined when the key is absent. Linearizable. */
  get(key: Buffer): Promise<Buffer | undefined>;
  close(): Promise<void>;
}

/** A system under test started (or found) for the bench: its driver, and how to stop it. */
export interface KvTargetHandle {
  /** For the table, e.g. "etcd 3.4.23" or "regionkv". */
  label: string;
  /** e.g. "3 members, fsync on", "3 stores, started by the bench". */
  detail: string;
  driver: KvDriver;
  /** Process groups of the servers the bench started (for their CPU use); empty for a running cluster. */
  serverGroups: number[];
  /** Figures worth reporting after the run (e.g. requests per member); optional. */
  afterRun?(): Promise<string | undefined>;
  /** Close the driver and stop whatever the bench started; idempotent. */
  stop(): Promise<void>;
}
