/**
 * The store's status port (plain HTTP): `/metrics` in the Prometheus text format, `/status` as a
 * JSON summary, `/healthz` for liveness probes.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { parseHostPort } from "@regionkv/scheduler";

export interface StatusServer {
  /** The bound address, host:port. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startStatusServer(listen: string, registries: Registry[], status: () => unknown): Promise<StatusServer> {
  const { host: hostPart, port } = parseHostPort(listen, "--status-listen");
  const host = hostPart.replace(/^\[(.*)\]$/, "$1"); // node:http takes an IPv6 host without brackets
  const merged = Registry.merge(registries);
  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    if (req.method !== "GET") {
      res.writeHead(405, { "content-type": "text/plain" }).end("only GET is served here\n");
      return;
    }
    if (url === "/metrics") {
      merged.metrics().then(
        (text) => res.writeHead(200, { "content-type": merged.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(err)}\n`),
      );
      return;
    }
    if (url === "/status") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(status(), (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
      return;
    }
    if (url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics, /status or /healthz\n");
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE"
          ? new Error(`status address ${listen} is already in use: stop the other process or choose another --status-listen`)
          : new Error(`cannot listen on status address ${listen}: ${err.message}`),
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.removeListener("error", onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    address: `${hostPart}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
