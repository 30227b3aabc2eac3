/**
 * The logger the client writes to: the subset of pino's Logger it uses (a pino logger fits as is).
 * Retries and cache corrections go to `debug`; failures the caller also sees are not logged twice.
 */
export interface ClientLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Drops everything (the default). */
export const silentLogger: ClientLogger = {
  debug: () => undefined,
  warn: () => undefined,
};
