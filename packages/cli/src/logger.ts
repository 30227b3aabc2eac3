/**
 * Logs of the regionkv processes: pino, readable (pino-pretty, synchronous) when the stream is a
 * terminal, JSON lines otherwise (for collectors and for the end-to-end tests, which parse them).
 */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function makeLogger(opts: { level: LogLevel; name: string; format?: "auto" | "json" | "pretty"; fd?: 1 | 2 }): Logger {
  const fd = opts.fd ?? 1;
  const isTty = fd === 1 ? process.stdout.isTTY : process.stderr.isTTY;
  const format = opts.format ?? "auto";
  const usePretty = format === "pretty" || (format === "auto" && isTty === true);
  const base = { level: opts.level, name: opts.name, base: { pid: process.pid } };
  if (usePretty) {
    return pino(base, pretty({ colorize: isTty === true, sync: true, destination: fd, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" }));
  }
  return pino(base, pino.destination({ fd, sync: true }));
}

export function parseLogLevel(value: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new Error(`--log-level ${JSON.stringify(value)} is not one of ${LOG_LEVELS.join(", ")}`);
}
