/**
 * Held syncs with beats (the local runtime; issue 12): how an agent proves it is alive while its
 * sync is held, without a new request. The server offers them in a sync answer
 * (`SyncResponse.beats`); an agent that takes the offer sends its next held sync with the
 * SYNC_BEATS_HEADER and a chunked body whose first line is the SyncRequest JSON and whose later
 * bytes are beats (BEAT_BYTE, one every `everySeconds`); the server answers the head at once with
 * the same header set to BEATS_HONOURED (so the agent knows the body got through, not buffered by a
 * proxy) and the body when the node's desired state moves or the hold (`holdSeconds`) runs out.
 * An agent that sees no answer head soon, or one without the header, falls back to plain holds.
 *
 * A server that offers `wakes` also takes WAKE_BYTE in the stream: the agent has a pod status to
 * report, and the server answers the held sync now, so the report goes out on the same connection
 * (no `/agent/v1/wake` request on a second one, no cut call and new connection: at 5,000 nodes
 * those connections waited seconds in the server's accept queue, and the nodes with them).
 */

/** Request: "my body streams beats after its first line". Answer: BEATS_HONOURED when the server took them. */
export const SYNC_BEATS_HEADER = 'ferry-sync-beats';
export const BEATS_HONOURED = 'honoured';
/** One beat; any other byte after the first line (but a wake, where offered) ends the beat stream and its connection. */
export const BEAT_BYTE = 0x2e; // '.'
/** "Answer this held sync now": sent only to a server whose offer has `wakes`. */
export const WAKE_BYTE = 0x21; // '!'

/** `SyncResponse.beats`: the server takes beat-streamed held syncs. */
export interface SyncBeatsOffer {
  /** Send a beat at least this often while the sync is held. */
  everySeconds: number;
  /** Hold a beat-streamed sync up to this long (its `waitSeconds`). */
  holdSeconds: number;
  /** The server answers the held sync at once on a WAKE_BYTE (absent: an older server, which cuts the stream on one). */
  wakes?: boolean;
}
