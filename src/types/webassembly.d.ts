// The WebAssembly globals Node provides, declared here because TypeScript ships them only in
// lib.dom, which would bring the whole browser into scope.
declare namespace WebAssembly {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Module {}
  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  interface WebAssemblyInstantiatedSource {
    instance: Instance;
    module: Module;
  }
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
  }
  function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>;
}
type BufferSource = ArrayBufferView | ArrayBuffer;
