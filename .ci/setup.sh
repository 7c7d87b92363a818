#!/usr/bin/env bash
# Installs what the other steps need. Stable components are required; the nightly
# miri component is optional (miri.sh says so plainly when it is missing).
set -uo pipefail
rustup component add rustfmt clippy || exit 1
if rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal; then
    rustup component add --toolchain nightly miri rust-src \
        || echo "setup: could not install the nightly miri component; the miri step will be skipped"
else
    echo "setup: no nightly toolchain could be installed; the miri step will be skipped"
fi
exit 0
