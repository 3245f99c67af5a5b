// Package rpm opens and verifies RPM packages (header and payload digests,
// OpenPGP signatures), checks them against the target, and derives the cluster's
// components from their file lists.
//
// Reading. Each package is read once, streaming: the lead and the two
// headers are held in memory (bounded by rpm's own limits: at most 65535
// index entries and 32 MiB of header data, 256 entries and 16 MiB for the
// signature header), the payload never is. Every digest and signature hash,
// and the whole file's sha256 for the build manifest, are computed in that
// one pass, each on its own goroutine over a fixed ring of buffers.
// go-rpmutils' own reader is not used for this: it trusts the header index
// (an entry offset past the data store panics, an entry count of 2^28
// allocates gigabytes) and stops checking after the first usable digest; its
// version comparison (Vercmp) is used for requirements and etcd versions.
//
// Verification agrees with rpm --checksig: the header SHA256 and SHA1, the
// payload digest, the header+payload MD5, and with keys every OpenPGP
// signature, header-only (RSA/DSA tags) and header+payload (PGP/GPG tags),
// version 4 through go-crypto and version 3 (CentOS 7's own packages) here.
// With keys, an unsigned package or one signed by any other key fails.
// Without keys only digests are checked and the result says so; a payload
// that no digest covers is refused.
//
// Requirements. Scan lists what no package of the set provides (rpmlib()
// requirements excluded, file requirements resolved against the file lists),
// comparing versions with rpm's range rules. A base provides file (the output
// of rpm -qa --provides on the target image, to which plain file paths may
// be added) is matched the same way: by name, and by version when the line
// carries one.
package rpm
