// The Swift floor: the smallest program built the way swinetd is
// (release, the Swift runtime linked in statically) that only sleeps.
// Its memory is what Swift itself costs; swinetd's, less this, is what
// swinetd adds.
#if canImport(Glibc)
import Glibc
#endif

while true { sleep(3600) }
