/** Whether uWS should load on this Node and glibc, worked out apart from the loader under test (uws-binary.ts). */

/** uWS 20.30 serves Node 20 (ABI 115); 20.57 serves Node 22 and 24 (127, 137) where glibc is 2.38 or newer. */
export function uwsShouldLoad(
  abi = process.versions.modules,
  glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime,
): boolean {
  const [major = 0, minor = 0] = (glibc ?? '0.0').split('.').map(Number);
  return abi === '115' || ((abi === '127' || abi === '137') && (major > 2 || (major === 2 && minor >= 38)));
}
