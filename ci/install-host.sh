#!/usr/bin/env bash
# Install the Debian 12 host packages LLM OS needs to build, boot and test its image. Idempotent; run as root.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "ci/install-host.sh: run as root (it installs Debian packages)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
backports=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ! -e "$backports" ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d; then
    cat > "$backports" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi
# mkosi 24 and a systemd-repart that knows our partition options come from bookworm-backports;
# udev must match the backported libudev, so it comes from there too.
BACKPORTS=(mkosi systemd systemd-boot systemd-boot-efi udev)
PACKAGES=(python3 python3-venv python3-dev build-essential cmake pkg-config binutils
          qemu-system-x86 qemu-utils ovmf kmod dosfstools mtools e2fsprogs fdisk cpio zstd
          libcairo2-dev libpango1.0-dev libxkbcommon-dev libwayland-dev squashfs-tools
          dnsmasq-base iproute2 weston foot wayland-utils busybox-static git curl qemu-user)
missing=0
for p in "${BACKPORTS[@]}" "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing=1
done
if [ "$missing" = 1 ]; then
    echo "== installing host packages (apt)"
    apt-get update -q
    apt-get install -y -q -t bookworm-backports "${BACKPORTS[@]}"
    apt-get install -y -q "${PACKAGES[@]}"
fi
mkosi --version | grep -Eq 'mkosi (2[4-9]|[3-9][0-9])' || { echo "need mkosi >= 24 (bookworm-backports)" >&2; exit 1; }
