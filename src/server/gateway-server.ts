/**
 * The running gateway: listeners around a Runtime whose `gateway` reference is the compiled config
 * in effect. Graceful stop: stop accepting, let in-flight requests finish (bounded by
 * server.shutdownTimeout), then close everything.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Gateway } from '../config/gateway.ts';
import { createAccessLog, createLogger, type AccessLog, type Logger } from '../observability/logger.ts';
import type { Runtime } from './handler.ts';
import { createHttpListener, createHttpsListener, type Listener } from './listeners.ts';

export interface StartOptions {
  logger?: Logger;
  accessLog?: AccessLog;
}

export interface BoundAddress {
  name: 'https' | 'http';
  host: string;
  port: number;
}

export class GatewayServer {
  readonly runtime: Runtime;
  private readonly listeners: Listener[] = [];
  private stopping: Promise<void> | undefined;

  private constructor(runtime: Runtime) {
    this.runtime = runtime;
  }

  static async start(gateway: Gateway, options: StartOptions = {}): Promise<GatewayServer> {
    const runtime: Runtime = {
      gateway,
      logger: options.logger ?? createLogger(gateway.settings.logLevel),
      accessLog: options.accessLog ?? createAccessLog(gateway.settings.accessLog),
      inflight: 0,
      draining: false,
      httpsPort: 0,
    };
    const self = new GatewayServer(runtime);
    const { https, http } = gateway.settings;
    try {
      if (https) {
        const l = createHttpsListener(runtime, gateway);
        self.listeners.push(l);
        l.server.listen(https.port, https.host);
        await once(l.server, 'listening');
        runtime.httpsPort = (l.server.address() as AddressInfo).port;
      }
      if (http) {
        const l = createHttpListener(runtime, gateway);
        self.listeners.push(l);
        l.server.listen(http.port, http.host);
        await once(l.server, 'listening');
      }
    } catch (err) {
      for (const l of self.listeners) l.server.close();
      await gateway.close();
      throw err;
    }
    gateway.start(runtime.logger);
    return self;
  }

  get gateway(): Gateway {
    return this.runtime.gateway;
  }

  addresses(): BoundAddress[] {
    return this.listeners.map((l) => {
      const a = l.server.address() as AddressInfo;
      return { name: l.name, host: a.address, port: a.port };
    });
  }

  port(name: 'https' | 'http'): number {
    const a = this.addresses().find((x) => x.name === name);
    if (!a) throw new Error(`no ${name} listener`);
    return a.port;
  }

  /** Graceful: no new connections, in-flight requests finish, then pools and logs close. */
  stop(timeoutMs = this.runtime.gateway.settings.shutdownTimeout): Promise<void> {
    this.stopping ??= this.doStop(timeoutMs);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    const runtime = this.runtime;
    runtime.draining = true;
    for (const l of this.listeners) l.stopAccepting();
    const deadline = Date.now() + timeoutMs;
    // In-flight requests finish; connections left idle after their last response are closed.
    while (Date.now() < deadline) {
      for (const l of this.listeners) l.closeIdle();
      const open = this.listeners.reduce((n, l) => n + l.openConnections(), 0);
      if (runtime.inflight === 0 && open === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const l of this.listeners) l.destroyAll();
    await runtime.gateway.close();
    await runtime.accessLog.flush();
  }
}
