#!/usr/bin/env bash
# Prepare `.device/` for `saelab bench all` on the lent GPU machine, under the 64 MiB carry limit:
# runs ../shared/bench/prepare-device.sh (node, Vulkan loader, OpenBLAS, node_modules, torch_reference.py),
# then trims node_modules to what the CLI loads at run time and packs it with xz, and copies the
# assets the e2e and dashboard parts read (gpt2-corpus-tiny, the first ~4 MB of the corpus) into
# .device/assets. Run from the project root after `npx tsc -p tsconfig.json`:
#   bash scripts/prepareBenchDevice.sh
# Then carry [".device"] and run the command of BENCHMARKS.md ("One call measures the GPU"); the build
# (dist/src, native/build) travels inside .device/build.tar.xz. When everything would pass 63 MiB, the
# assets are left out (the e2e.gpt2-corpus-tiny, train and dashboard parts then say so and skip).
set -euo pipefail
shared=${SHARED_BENCH:-../shared/bench}; assets=${SHARED_ASSETS:-../shared/assets}
ex=$(git rev-parse --git-path info/exclude)
grep -qx '/.device/' "$ex" 2>/dev/null || echo '/.device/' >> "$ex"
# prepare-device.sh writes .git/info/exclude, which is not a folder in a git worktree: give it the real path.
sed "s#\.git/info/exclude#$ex#g; s#^root=.*#root=\$(pwd); here=$(cd "$shared" && pwd)#" "$shared/prepare-device.sh" > /tmp/prepare-device.$$.sh
rm -rf .device/node_modules.tar.xz
bash /tmp/prepare-device.$$.sh >/dev/null; rm -f /tmp/prepare-device.$$.sh
cp "$shared/torch_cpu_reference.py" .device/ 2>/dev/null || true
nm=.device/node_modules
# Build-time only (TypeScript runner, bundler, browser driver, sqlite sources): not loaded by dist/.
rm -rf $nm/playwright-core $nm/@esbuild $nm/esbuild $nm/tsx $nm/better-sqlite3/deps $nm/better-sqlite3/src
find $nm/better-sqlite3/build -type f ! -name '*.node' -delete 2>/dev/null || true
tar -C .device -cf - node_modules | xz -T2 -9 > .device/node_modules.tar.xz && rm -rf $nm
# bench-setup.sh: unpack node_modules, then the shared setup (which links .device/node_modules).
cat > .device/bench-setup.sh <<'EOS'
[ -d .device/node_modules ] || xz -d -c .device/node_modules.tar.xz | tar -C .device -xf -
[ -d dist/src ] || xz -d -c .device/build.tar.xz | tar -xf -
source .device/setup.sh
EOS
mkdir -p .device/assets/models .device/assets/corpora
cp -r "$assets/models/gpt2-corpus-tiny" .device/assets/models/
# ~1M tokens of the corpus are plenty for the train + dashboard parts (a few hundred thousand tokens).
{ xz -d -c "$assets/corpora/mixed-public-domain.txt.xz" || true; } | head -c 4000000 | xz -T2 -6 > .device/assets/corpora/mixed-public-domain.txt.xz
tar -cf - dist/src native/build | xz -T2 -9 > .device/build.tar.xz
total() { echo $(( $(du -sk .device | cut -f1) + $(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1) )); }
if [ "$(total)" -gt $((63 * 1024)) ]; then
  echo "over 63 MiB with the assets: leaving .device/assets out (the gpt2-corpus-tiny parts will skip)"; rm -rf .device/assets
fi
du -sh .device/* | sort -h
echo "carry [\".device\"]: $(( $(total) / 1024 )) MiB with the tracked files (limit 64 MiB)"
