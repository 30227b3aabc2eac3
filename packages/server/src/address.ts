/** `host:port` parsing for listen and advertise addresses, with errors that name the flag. */

export function parseHostPort(addr: string, flag: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  if (i <= 0) throw new Error(`${flag} ${JSON.stringify(addr)} is not host:port (e.g. 127.0.0.1:20160)`);
  let host = addr.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const portText = addr.slice(i + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new Error(`${flag} ${JSON.stringify(addr)} has no valid port (0-65535)`);
  return { host, port };
}
