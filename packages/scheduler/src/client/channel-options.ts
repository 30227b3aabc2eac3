/**
 * How the client's channels to the scheduler are set up, and how long it waits between retries.
 */
import type { ChannelOptions } from "@grpc/grpc-js";

/** Largest message sent or accepted (16 MiB, like the scheduler). */
export const CLIENT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Default per-call deadline. */
export const DEFAULT_TIMEOUT_MS = 5000;

export const CLIENT_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.max_receive_message_length": CLIENT_MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": CLIENT_MAX_MESSAGE_BYTES,
  // Notice a dead scheduler under long-lived streams within ~15 s.
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  // Reconnect quickly after a scheduler restart (grpc-js defaults to 1 s, growing to 2 min).
  "grpc.initial_reconnect_backoff_ms": 50,
  "grpc.min_reconnect_backoff_ms": 50,
  "grpc.max_reconnect_backoff_ms": 500,
};

/** Wait before retry number `attempt` (0-based): 10, 20, 40, ... ms, at most 250 ms. */
export function retryBackoffMs(attempt: number): number {
  return Math.min(250, 10 * 2 ** Math.min(attempt, 10));
}
