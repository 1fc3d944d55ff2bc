/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, through `@grpc/reflection`).
 *
 * The kernel's schema comes from the descriptor set buf compiles from proto/
 * (`src/gen/descriptor.binpb`, written by `npm run gen:proto`; `npm run build` copies it to
 * `dist/src/gen/`): exact FileDescriptorProtos, one per .proto file, with their comments. (Loading
 * the .proto files with @grpc/proto-loader instead would hand reflection protobufjs's descriptors,
 * which merge a package into one file with relative type names and no proto3-optional flags —
 * strict clients such as `buf curl` cannot use them.)
 *
 * The health service (`grpc.health.v1.Health`, from grpc-health-check's health.proto) is listed
 * too; its descriptor comes from @grpc/proto-loader with its type names made fully qualified.
 *
 * `grpcurl -plaintext localhost:50051 list` or `buf curl --list-services` then list every kernel
 * service and the health service.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import type * as grpc from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/** The kernel's compiled descriptor set (`src/gen/descriptor.binpb`, or `dist/src/gen/` when built). */
export const DEFAULT_DESCRIPTOR_SET = fileURLToPath(new URL('../gen/descriptor.binpb', import.meta.url));

/** One FileDescriptorProto (serialized) per file of a `buf build` descriptor set. */
export function descriptorSetFiles(path = DEFAULT_DESCRIPTOR_SET): Buffer[] {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(path));
  return set.file.map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f)));
}

/** health.proto's descriptor with fully qualified type names. */
export function healthDescriptorFiles(): Buffer[] {
  const pkg = loadSync('health/v1/health.proto', { includeDirs: [dirname(dirname(dirname(healthProtoPath)))] });
  const raw = new Set<Buffer>();
  for (const def of Object.values(pkg)) {
    const files = (def as { fileDescriptorProtos?: unknown }).fileDescriptorProtos;
    if (Array.isArray(files)) for (const f of files) if (Buffer.isBuffer(f)) raw.add(f);
  }
  return [...raw].map((b) => {
    const file = qualify(fromBinary(FileDescriptorProtoSchema, b));
    // protobufjs names the file after its package; use health.proto's canonical path.
    if (file.package === 'grpc.health.v1') file.name = 'grpc/health/v1/health.proto';
    return Buffer.from(toBinary(FileDescriptorProtoSchema, file));
  });
}

/** Rewrites relative type names (`ServingStatus`) to fully qualified ones (`.grpc.health.v1.HealthCheckResponse.ServingStatus`). */
function qualify(file: FileDescriptorProto): FileDescriptorProto {
  const pkgScope = file.package ? `.${file.package}` : '';
  const known = new Set<string>();
  const index = (scope: string, messages: readonly DescriptorProto[]): void => {
    for (const m of messages) {
      const name = `${scope}.${m.name}`;
      known.add(name);
      for (const e of m.enumType) known.add(`${name}.${e.name}`);
      index(name, m.nestedType);
    }
  };
  for (const e of file.enumType) known.add(`${pkgScope}.${e.name}`);
  index(pkgScope, file.messageType);
  const resolve = (scope: string, name: string): string => {
    if (name === '' || name.startsWith('.')) return name;
    for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
      if (known.has(`${s}.${name}`)) return `${s}.${name}`;
      if (s === '') return name;
    }
  };
  const fix = (scope: string, messages: readonly DescriptorProto[]): void => {
    for (const m of messages) {
      const name = `${scope}.${m.name}`;
      for (const f of m.field) if (f.typeName) f.typeName = resolve(name, f.typeName);
      fix(name, m.nestedType);
    }
  };
  fix(pkgScope, file.messageType);
  for (const s of file.service) {
    for (const m of s.method) {
      m.inputType = resolve(pkgScope, m.inputType);
      m.outputType = resolve(pkgScope, m.outputType);
    }
  }
  return file;
}

/** Adds the reflection service, describing the kernel services and the health service. */
export function addReflection(server: Pick<grpc.Server, 'addService'>, descriptorSet = DEFAULT_DESCRIPTOR_SET): void {
  // @grpc/reflection reads only `fileDescriptorProtos` of each definition.
  const definition = {
    'meerkat.kernel.v1': { fileDescriptorProtos: descriptorSetFiles(descriptorSet) },
    'grpc.health.v1': { fileDescriptorProtos: healthDescriptorFiles() },
  } as unknown as PackageDefinition;
  new ReflectionService(definition).addToServer(server);
}
