// device.ts: device names, "cpu" or "cuda:N": the one check the command line, the .vlab language and
// the lab share (the native library says whether such a device exists when a runtime opens it).

export type DeviceKind = 'cpu' | 'cuda';

/** True for "cpu" and "cuda:N". */
export function isDeviceName(name: string): boolean {
  return name === 'cpu' || /^cuda:\d+$/.test(name);
}

/** The kind of a device name: cpu, or cuda for anything else. */
export function deviceKind(name: string): DeviceKind {
  return name === 'cpu' ? 'cpu' : 'cuda';
}
