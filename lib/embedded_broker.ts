/**
 * An embedded MQTT broker (npm aedes) so the hub runs with nothing else installed. Production
 * uses mosquitto via `--mqtt-url`.
 *
 * @module
 */
import { createServer, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";
import { createLogger, type Logger } from "./log.ts";

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The broker's port was taken or could not be bound. */
export class BrokerStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokerStartError";
  }
}

/** Starts aedes on `host:port` (port 0 picks a free one). */
export async function startEmbeddedBroker(
  options: { host?: string; port?: number; logger?: Logger } = {},
): Promise<EmbeddedBroker> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 1883;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Broker port must be 0..65535, got ${port}`);
  }
  const log = options.logger ?? createLogger("broker");
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new BrokerStartError(
          `Could not start the embedded MQTT broker on ${host}:${port}: ${err.message}. ` +
            `Use --broker-port to pick another port or --mqtt-url for an external broker.`,
          { cause: err },
        ),
      ));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const boundPort = typeof addr === "object" && addr ? addr.port : port;
  log.info("embedded MQTT broker listening", { host, port: boundPort });
  return {
    url: `mqtt://${host}:${boundPort}`,
    port: boundPort,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}
