#!/usr/bin/env bash
# bundle-rpms.sh DIR [MIB]: builds a realistic package set of about MIB MiB
# (default 200) of RPMs into DIR for bench/bundle.sh. The payloads are real
# ELF libraries compressed the way EL7/EL8 ship them (xz level 2), so their
# compressibility matches real postgresql/patroni/etcd/haproxy RPMs.
set -euo pipefail

dir=${1:?usage: bundle-rpms.sh DIR [MIB]}
target_mib=${2:-200}
src=${PGHA_BENCH_SRC:-/usr/lib/x86_64-linux-gnu}
chunk_mib=${PGHA_BENCH_CHUNK_MIB:-110} # uncompressed bytes per package

command -v rpmbuild >/dev/null || { echo "rpmbuild missing: apt-get install -y rpm" >&2; exit 2; }
mkdir -p "$dir"
have=$(find "$dir" -name '*.rpm' -printf '%s\n' | awk '{s+=$1} END {print int(s/1048576)}')
if [ "$have" -ge "$target_mib" ]; then
	echo "==> $dir already holds ${have} MiB of RPMs"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Regular files only, sorted, split into chunks of about chunk_mib.
find "$src" -type f -size +16k -printf '%s %p\n' | LC_ALL=C sort -k2 |
	awk -v lim=$((chunk_mib * 1048576)) -v out="$work/list" '
	{ if (s + $1 > lim) { n++; s = 0 } s += $1; print $2 > (out "." n) }'

n=0
for list in "$work"/list.*; do
	n=$((n + 1))
	name=pgha-bench-$n
	cat >"$work/$name.spec" <<SPEC
Name: $name
Version: 1.0
Release: 1
Summary: bench payload $n
License: various
BuildArch: x86_64
AutoReqProv: no
%define debug_package %{nil}
%define __os_install_post %{nil}
%define _build_id_links none
%description
Real shared libraries as a bench payload.
%install
mkdir -p %{buildroot}/opt/$name
while read -r f; do cp --parents "\$f" %{buildroot}/opt/$name/; done < $list
%files
/opt/$name
SPEC
	echo "==> building $name"
	rpmbuild -bb --quiet --define "_topdir $work/top" \
		--define '_binary_payload w2T2.xzdio' "$work/$name.spec" >/dev/null
	mv "$work"/top/RPMS/x86_64/*.rpm "$dir/"
	have=$(find "$dir" -name '*.rpm' -printf '%s\n' | awk '{s+=$1} END {print int(s/1048576)}')
	[ "$have" -ge "$target_mib" ] && break
done
echo "==> $dir holds ${have} MiB of RPMs"
