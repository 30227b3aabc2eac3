/** How a command ends on an error a person must act on: one clear line on stderr, exit code 1. */
export function exitWithError(command: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`regionkv ${command}: ${message}\n`);
  if (process.env["REGIONKV_DEBUG"] && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}

/** Run `stop` once on SIGINT/SIGTERM, then exit 0 (or 1 if stopping failed). */
export function onShutdownSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`error while stopping on ${signal}: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  // Started by `regionkv cluster` (an IPC channel to the parent): stop when the parent is gone,
  // even if it was killed with SIGKILL and could not tell us.
  if (process.send !== undefined) process.on("disconnect", () => handler("SIGTERM"));
}
