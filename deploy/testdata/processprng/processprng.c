/* Test-only shim for Wine 8.0 (Debian 12), never shipped in a release.
 *
 * Go >= 1.22 loads ProcessPrng from bcryptprimitives.dll in system32 at
 * start; Wine 8.0 has no such export, so every Go Windows binary dies with
 * "bcryptprimitives.dll not found". The Wine test builds this file with
 * mingw-w64 into the test's own Wine prefix: ProcessPrng is a loop over
 * RtlGenRandom (advapi32's SystemFunction036), which Wine implements. */
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!RtlGenRandom(data, n)) return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
