#!/usr/bin/env bash
# Open the Novamind desktop on this machine, also on one without a desktop session:
#   scripts/try-desktop.sh [novamind GUI flags, e.g. --exit-after-paint or --theme dark]
# Inside a desktop session (a display and its session bus) it runs .venv/bin/novamind as is.
# Otherwise it supplies what the desktop needs: an X server (Xvfb through xvfb-run) when there
# is no display, and a private D-Bus session with an unlocked gnome-keyring as the Secret
# Service, unlocked with the same password as `scripts/setup.sh run` used for the demo clinic
# (NOVAMIND_KEYRING_PASSWORD, default novamind-local-keyring), so the store key is found.
# Without a display the window is drawn into Xvfb: use --exit-after-paint to check start-up,
# or set NOVAMIND_XVFB_DISPLAY=:N and attach a VNC viewer to watch it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${NOVAMIND_VENV:-$ROOT/.venv}"
APP="$VENV/bin/novamind"
[ -x "$APP" ] || { echo "no $APP: install first with 'scripts/setup.sh run'" >&2; exit 1; }

has_display() { [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" != "Linux" ]; }

# The command that starts the app with a Secret Service: the desktop session's own, or a
# private gnome-keyring (the password arrives on stdin; the app then runs inside the session).
cmd=("$APP" "$@")
if ! { has_display && [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]; } && [ "$(uname)" = "Linux" ]; then
  for tool in dbus-run-session gnome-keyring-daemon; do
    command -v "$tool" >/dev/null || { echo "$tool missing: apt install dbus gnome-keyring" >&2; exit 1; }
  done
  export NOVAMIND_KEYRING_PASSWORD="${NOVAMIND_KEYRING_PASSWORD:-novamind-local-keyring}"
  cmd=(dbus-run-session -- bash -c 'printf "%s" "$NOVAMIND_KEYRING_PASSWORD" |
    gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"' _ "${cmd[@]}")
fi

if has_display; then
  exec "${cmd[@]}"
fi
command -v xvfb-run >/dev/null || { echo "xvfb-run missing: apt install xvfb xauth" >&2; exit 1; }
echo "no display: drawing the desktop into Xvfb" >&2
if [ -n "${NOVAMIND_XVFB_DISPLAY:-}" ]; then
  Xvfb "$NOVAMIND_XVFB_DISPLAY" -screen 0 1600x1000x24 -nolisten tcp &
  xvfb_pid=$!
  trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
  sleep 1
  DISPLAY="$NOVAMIND_XVFB_DISPLAY" QT_QPA_PLATFORM=xcb "${cmd[@]}"
else
  QT_QPA_PLATFORM=xcb exec xvfb-run -a -s "-screen 0 1600x1000x24" "${cmd[@]}"
fi
