/** Element types a tensor can hold. Integer tensors carry indices (argmax, gather). */
export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

/** The WGSL scalar type of a dtype. */
export function wgslType(dtype: DType): string {
  return dtype;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16';
}

/** Host array type used for uploads and readbacks (f16 travels as f32 on the host). */
export type HostArray = Float32Array | Int32Array | Uint32Array;

export function hostArray(dtype: DType, length: number): HostArray {
  switch (dtype) {
    case 'f32':
    case 'f16':
      return new Float32Array(length);
    case 'i32':
      return new Int32Array(length);
    case 'u32':
      return new Uint32Array(length);
  }
}
