// Package boot is the end-to-end boot test of the seed ISO: a Debian bookworm
// VM under qemu (KVM when it really works, TCG otherwise) boots with a
// generated seed ISO as its CD-ROM, and real cloud-init runs the node's
// install bundle. The cluster is built with --packages-media shared: the
// seed carries a bundle without RPMs, and the build's packages ISO is a
// second CD-ROM, which the seed finds by its label and mounts and install.sh
// checks (the SHA256SUMS digest its bundle pins, every file, rpm -K against
// the key on the media) before its package step, skipped on this Debian
// image (--no-packages); the checks see it unmounted afterwards.
//
// The VM's one NIC is qemu's user-mode network with restrict=on (nothing
// leaves qemu) and a fixed MAC address; the guest kernel names it ens*/enp*.
// The seed's network-config names the NIC by that MAC (nodes[].mac_address),
// and the checks show cloud-init renamed it to eth0 and applied the static
// address, default route and hostname: version 2 (as for EL8/EL9) at the
// first boot, version 1 (the EL7 rendering of the same spec, swapped into the
// seed) at the third. Patroni runs with watchdog.mode required on the guest
// kernel's softdog: the second boot, once healthy, freezes Patroni with
// SIGSTOP and must end in the watchdog's reset (qemu runs with -no-reboot),
// and the third boots that disk back to a healthy member.
//
// The test lives behind the e2e build tag; run it with
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
