// Package rpm opens and verifies RPM packages (header and payload digests,
// OpenPGP signatures), checks them against the target, and derives the cluster's
// components from their file lists.
package rpm
