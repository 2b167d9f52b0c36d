import { create, globals } from 'webgpu';
import { DeviceLostError, GpuValidationError, NoAdapterError } from './errors.js';

/** Dawn toggles: unsafe APIs expose subgroup matrices; the second exposes shader-f16 on NVIDIA Vulkan. */
const DAWN_FLAGS = 'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia';

/** Environment variable naming the adapter when `--device` is not given. */
export const DEVICE_ENV = 'YOLO_WGPU_DEVICE';

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface GpuFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  subgroupMatrix: boolean;
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
}

export interface GpuLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
}

export interface OpenGpuOptions {
  /** Adapter name (Dawn matches it against adapter names); falls back to $YOLO_WGPU_DEVICE. */
  device?: string;
  /** Dawn backend: vulkan, metal, d3d12, ... (default: Dawn's choice). */
  backend?: string;
}

/** An open WebGPU device with the facts the engine needs about it. */
export class Gpu {
  private lost: DeviceLostError | null = null;
  private uncaptured: GpuValidationError | null = null;

  constructor(
    /** The Dawn instance: held so that garbage collection cannot destroy it under a live device. */
    private readonly instance: GPU,
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    readonly features: GpuFeatures,
    readonly limits: GpuLimits,
  ) {
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lost = new DeviceLostError(info.reason, info.message);
    });
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.uncaptured ??= new GpuValidationError(error.message);
    });
  }

  /** Throws the first device loss or uncaptured GPU error seen since the last check. */
  throwIfFailed(): void {
    if (this.lost) throw this.lost;
    if (this.uncaptured) {
      const error = this.uncaptured;
      this.uncaptured = null;
      throw error;
    }
  }

  destroy(): void {
    this.device.destroy();
  }
}

function dawnOptions(options: OpenGpuOptions): string[] {
  const flags = [DAWN_FLAGS];
  const name = options.device ?? process.env[DEVICE_ENV];
  if (name) flags.push(`adapter=${name}`);
  if (options.backend) flags.push(`backend=${options.backend}`);
  return flags;
}

function readFeatures(adapter: GPUAdapter): GpuFeatures {
  const has = (f: string) => adapter.features.has(f);
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: SubgroupMatrixConfig[] };
  const configs = (info.subgroupMatrixConfigs ?? []).map((c) => ({
    componentType: c.componentType,
    resultComponentType: c.resultComponentType,
    M: c.M,
    N: c.N,
    K: c.K,
  }));
  return {
    shaderF16: has('shader-f16'),
    subgroups: has('subgroups'),
    timestampQuery: has('timestamp-query'),
    subgroupMatrix: has('chromium-experimental-subgroup-matrix') && configs.length > 0,
    subgroupMatrixConfigs: configs,
  };
}

function featureNames(f: GpuFeatures): GPUFeatureName[] {
  const names: string[] = [];
  if (f.shaderF16) names.push('shader-f16');
  if (f.subgroups) names.push('subgroups');
  if (f.timestampQuery) names.push('timestamp-query');
  if (f.subgroupMatrix) names.push('chromium-experimental-subgroup-matrix');
  return names as GPUFeatureName[];
}

const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

let globalsInstalled = false;

/** Opens the adapter Dawn picks (or the named one) with every limit raised to the adapter's. */
export async function openGpu(options: OpenGpuOptions = {}): Promise<Gpu> {
  if (!globalsInstalled) {
    Object.assign(globalThis, globals);
    globalsInstalled = true;
  }
  const navigatorGpu = create(dawnOptions(options));
  const adapter = await navigatorGpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    const named = options.device ?? process.env[DEVICE_ENV];
    throw new NoAdapterError(
      named
        ? `no GPU adapter named "${named}" (Dawn prints the available adapters above)`
        : 'no WebGPU adapter found: install a GPU driver with Vulkan support, or the software Vulkan ' +
          'driver (scripts/install-software-vulkan.sh)',
    );
  }
  const features = readFeatures(adapter);
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures: featureNames(features), requiredLimits });
  const info = adapter.info as GPUAdapterInfo & {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
    isFallbackAdapter?: boolean;
    backend?: string;
  };
  const limits: GpuLimits = {
    maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
    maxBufferSize: device.limits.maxBufferSize,
    maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: device.limits.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: device.limits.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
    minStorageBufferOffsetAlignment: device.limits.minStorageBufferOffsetAlignment,
    minUniformBufferOffsetAlignment: device.limits.minUniformBufferOffsetAlignment,
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
  };
  const description: AdapterDescription = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    backend: info.backend ?? backendFromDescription(info.description),
    isFallbackAdapter: info.isFallbackAdapter ?? false,
  };
  return new Gpu(navigatorGpu, device, description, features, limits);
}

function backendFromDescription(description: string): string {
  const d = description.toLowerCase();
  if (d.includes('vulkan') || d.includes('mesa') || d.includes('llvmpipe')) return 'vulkan';
  if (process.platform === 'darwin') return 'metal';
  if (process.platform === 'win32') return 'd3d12';
  return 'vulkan';
}
