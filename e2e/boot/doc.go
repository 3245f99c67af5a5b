// Package boot is the end-to-end boot test of the seed ISO: a Debian bookworm
// VM under qemu (KVM when it really works, TCG otherwise, no NIC) boots with a
// generated seed ISO as its CD-ROM, and real cloud-init runs the node's
// install bundle. The test lives behind the e2e build tag; run it with
// e2e/boot/run.sh (as root), which builds or reuses the disk image made by
// e2e/boot/mkimage.sh and then runs go test -tags e2e on this package.
//
// The image is built in two cached steps: mkbase.sh makes the Debian tree
// with every package (the slow part: downloads and dpkg), mkimage.sh copies
// and configures it (units, settings) and writes the ext4 image, so a change
// to the image's configuration costs a minute, not a fresh debootstrap.
// Both live in PGHA_E2E_CACHE (default /var/cache/pgha-bundle-e2e); keep that
// directory between CI runs to skip the build.
package boot
