/** dynalite ships no types; this is the part of its API the conformance suite uses. */
declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** Milliseconds a table stays CREATING / DELETING / UPDATING (0: at once). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    /** A directory for LevelDB files; in memory when omitted. */
    path?: string;
  }

  export default function dynalite(options?: DynaliteOptions): Server;
}
