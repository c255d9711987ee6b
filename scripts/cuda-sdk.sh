#!/usr/bin/env bash
# Fetch the pinned CUDA 11.8 build inputs from Debian's non-free component into .cuda/ (git-ignored),
# through a private apt configuration that reuses this machine's Debian mirror. Changes nothing else on
# the machine. Result:
#   .cuda/root/usr/include/cuda.h                      (nvidia-cuda-dev)
#   .cuda/root/usr/lib/x86_64-linux-gnu/stubs/libcuda.so (link-time stub)
#   .cuda/root/usr/lib/nvidia-cuda-toolkit/bin/nvcc    (nvidia-cuda-toolkit + libnvvm4), with nvcc.profile
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${CUDA_SDK_DIR:-.cuda}
ROOT="$OUT/root"
if [ -f "$ROOT/usr/include/cuda.h" ] && [ -x "$ROOT/usr/lib/nvidia-cuda-toolkit/bin/nvcc" ]; then
  echo "cuda-sdk: already present in $OUT"; exit 0
fi
mirror=""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  m=$(grep -E '^(URIs:|deb )' "$f" | grep -Eo 'https?://[^ ]*debian/?' | grep -v security | head -1 || true)
  if [ -n "$m" ]; then mirror=$m; break; fi
done
mirror=${mirror:-http://deb.debian.org/debian}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
echo "cuda-sdk: mirror $mirror suite $suite (non-free)"
APT="$OUT/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/parts" "$APT/prefs" "$OUT/debs" "$ROOT"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite non-free" > "$APT/sources.list"
: > "$APT/status"
opts=(-o "Dir::Etc::SourceList=$PWD/$APT/sources.list" -o "Dir::Etc::SourceParts=$PWD/$APT/parts"
      -o "Dir::Etc::Preferences=$PWD/$APT/prefs/none" -o "Dir::Etc::PreferencesParts=$PWD/$APT/prefs"
      -o "Dir::State::Lists=$PWD/$APT/lists" -o "Dir::State::Status=$PWD/$APT/status"
      -o "Dir::Cache=$PWD/$APT/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
apt-get "${opts[@]}" update -qq
pkgs=(nvidia-cuda-dev nvidia-cuda-toolkit libnvvm4)
(cd "$OUT/debs" && apt-get "${opts[@]}" download "${pkgs[@]}" >/dev/null)
for p in "${pkgs[@]}"; do
  deb=$(ls "$OUT/debs/${p}"_*.deb | head -1)
  echo "cuda-sdk: extracting $(basename "$deb")"
  case $p in
    nvidia-cuda-dev) # headers and the link-time stub only; the rest is GiBs of static libraries
      dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$ROOT" --wildcards './usr/include/*' './usr/lib/x86_64-linux-gnu/stubs/*' ;;
    *) dpkg-deb -x "$deb" "$ROOT" ;;
  esac
done
# nvcc.profile is a link to /etc in the package: replace it with one pointing into the extracted tree.
nv="$ROOT/usr/lib/nvidia-cuda-toolkit/bin"
rm -f "$nv/nvcc.profile"
cat > "$nv/nvcc.profile" <<PROFILE
TOP = $PWD/$ROOT/usr/lib/nvidia-cuda-toolkit
NVVMIR_LIBRARY_DIR = $PWD/$ROOT/usr/lib/nvidia-cuda-toolkit/libdevice
LD_LIBRARY_PATH += $PWD/$ROOT/usr/lib/x86_64-linux-gnu:
PATH += $PWD/$ROOT/usr/lib/nvidia-cuda-toolkit/bin:$PWD/$ROOT/usr/lib/nvidia-cuda-toolkit/lib:
INCLUDES += -I$PWD/$ROOT/usr/include
LIBRARIES += -L$PWD/$ROOT/usr/lib/x86_64-linux-gnu/stubs
CUDAFE_FLAGS +=
PTXAS_FLAGS +=
PROFILE
rm -rf "$APT" "$OUT/debs"
ls -l "$ROOT/usr/include/cuda.h" "$ROOT/usr/lib/x86_64-linux-gnu/stubs/libcuda.so" "$nv/nvcc"
echo "cuda-sdk: done ($(du -sh "$OUT" | cut -f1))"
