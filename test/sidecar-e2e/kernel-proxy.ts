/**
 * A transparent gRPC proxy between the sidecar and the REAL kernel process, for end-to-end tests
 * that need something to happen at one exact point of the seam. It forwards the kernel services the
 * sidecar uses (Composition, Session, Ingress) byte for byte — unary and server-streaming calls,
 * metadata, deadlines, statuses with their details — and lets a test run an action right before a
 * routed input is forwarded (e.g. an operator unregistering the session a binding is about to
 * reach). It changes nothing the kernel or the sidecar do: both are the production processes.
 *
 * @example
 * ```ts
 * const proxy = await startKernelProxy(kernel.address, {
 *   beforeRoute: async (route) => { if (route?.$case === 'request_runtime_binding') await unregister(...); },
 * });
 * // start the sidecar with MEERKAT_KERNEL_ADDR = proxy.address
 * ```
 */
import * as grpc from '@grpc/grpc-js';
import { CompositionServiceService, DeliverRoutedInputRequest } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { IngressServiceService } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { SessionServiceService } from '../../src/gen/meerkat/kernel/v1/session.js';

export interface KernelProxyHooks {
  /** Runs before a `DeliverRoutedInput` is forwarded (the call waits for it). */
  readonly beforeRoute?: (route: DeliverRoutedInputRequest['route']) => Promise<void>;
}

export interface KernelProxy {
  readonly address: string;
  /** Routed inputs forwarded so far (decoded), in order. */
  readonly routes: DeliverRoutedInputRequest['route'][];
  close(): Promise<void>;
}

interface MethodShape {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

const identity = (b: Buffer): Buffer => b;

export async function startKernelProxy(target: string, hooks: KernelProxyHooks = {}): Promise<KernelProxy> {
  const upstream = new grpc.Client(target, grpc.credentials.createInsecure());
  const server = new grpc.Server();
  const routes: DeliverRoutedInputRequest['route'][] = [];
  const deliverPath = CompositionServiceService.deliverRoutedInput.path;

  for (const service of [CompositionServiceService, SessionServiceService, IngressServiceService] as const) {
    const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(service) as [string, MethodShape][]) {
      definition[name] = {
        path: method.path,
        requestStream: method.requestStream,
        responseStream: method.responseStream,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      };
      if (method.requestStream) {
        handlers[name] = (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'not proxied' });
      } else if (method.responseStream) {
        handlers[name] = (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
          const up = upstream.makeServerStreamRequest(method.path, identity, identity, call.request, call.metadata, { deadline: call.getDeadline() });
          up.on('metadata', (m: grpc.Metadata) => call.sendMetadata(m));
          up.on('data', (chunk: Buffer) => call.write(chunk));
          up.on('end', () => call.end());
          up.on('error', (e: grpc.ServiceError) => {
            if (!call.cancelled) call.emit('error', { code: e.code, details: e.details, metadata: e.metadata });
          });
          call.on('cancelled', () => up.cancel());
        };
      } else {
        handlers[name] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          void (async () => {
            if (method.path === deliverPath) {
              const route = DeliverRoutedInputRequest.decode(call.request).route;
              routes.push(route);
              await hooks.beforeRoute?.(route);
            }
            upstream.makeUnaryRequest(method.path, identity, identity, call.request, call.metadata, { deadline: call.getDeadline() }, (e, res) => {
              if (e) callback({ code: e.code, details: e.details, metadata: e.metadata });
              else callback(null, res);
            });
          })().catch((e: unknown) => callback({ code: grpc.status.INTERNAL, details: `proxy hook failed: ${e instanceof Error ? e.message : String(e)}` }));
        };
      }
    }
    server.addService(definition, handlers);
  }

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    routes,
    async close() {
      server.forceShutdown(); // the signal stream never ends by itself
      upstream.close();
    },
  };
}
