// Package cloudinit writes and reads the cloud-init NoCloud seed of one node:
// the three small files (user-data, meta-data, network-config) rendered from
// the cluster spec, and the seed ISO that carries them with the node's
// install bundle.
//
// # Seed files
//
//   - meta-data: instance-id "iid-<cluster>-<node>-g<generation>", stable
//     across rebuilds and changed only by cluster.generation (a new
//     instance-id makes cloud-init run a first boot again on a live node),
//     and local-hostname.
//   - network-config (static mode only; none for network.mode: dhcp):
//     version 1 for el7, whose cloud-init 18.5 converts version 2 to ifcfg
//     files unreliably; version 2 for el8 and el9 (cloud-init 20.3 and
//     later). The IPv4 default route is a route to 0.0.0.0/0 (not the
//     deprecated gateway4, not the newer "default" keyword); the IPv6 one is
//     gateway6, because cloud-init's sysconfig renderer mistranslates a
//     route to ::/0 (seen with 22.4: "::/64 via <gateway>").
//   - user-data (#cloud-config): hostname and fqdn, manage_etc_hosts: false,
//     optional users (when the spec lists users they replace the image's
//     default user), timezone, ntp servers, and one script written by
//     write_files (0700 root) and started by runcmd. The script merges the
//     cluster members into /etc/hosts (the block marked "pgha-bundle
//     <cluster>" that the bundle's install.sh also owns), finds the seed by its label (blkid, falling back to /dev/sr0),
//     mounts it read-only, checks the bundle's sha256 (written into the
//     script at build time), unpacks it under /var/lib/pgha-bundle/bundle/
//     and runs the bundle's install.sh. Everything it and install.sh print
//     goes to /var/log/pgha-bundle/seed-install.log (0600), not to cloud-init's
//     world-readable output log. No secret appears in user-data or on a
//     command line: secrets only travel inside the bundle.
//
// Lint checks user-data against the keys the target's cloud-init understands
// (18.5 on el7: no write_files.append or defer); Render runs it on its own
// output.
//
// # Seed ISO
//
// WriteISO writes plain ISO 9660 without Rock Ridge or Joliet, in the
// layout github.com/kdomanski/iso9660 (which wrote it before) gives: Linux
// presents its names lowercased without the ";1" version, so the short
// lowercase names used here survive, and WriteISO refuses any other name
// (CheckName). The volume label is "cidata" in lowercase, which cloud-init
// 18.5 matches exactly. Every date is the build epoch, so the same inputs
// give the same bytes. The image is written in one sequential pass: the
// bundle's extent comes first, so WriteISOStream takes the bundle's bytes as
// they are made (the build writes the bundle file and the seed at once, never
// reading either back); user-data, which names the bundle's sha256, follows.
// The image's sha256 is computed on the way. Before it is renamed into place
// the image is read back with ReadISO: label, names, the small files byte by
// byte, and the bundle's place.
//
// ReadISO, which inspect and diff use on files from anywhere, does not use
// the library's reader: it reads the few structures a seed needs (volume
// descriptors, the primary volume, directory records, Rock Ridge names)
// itself and checks every location and size against the file's real size
// before using it, so a damaged or truncated image is an error wrapping
// ErrNotISO or ErrDamagedISO, never a panic or an allocation larger than
// the file. FuzzReadISO keeps it so.
package cloudinit
