"""OpenGL environment: headless window selection and software-renderer detection.

Why: reports and tests render without a display, and a clinic workstation (or a VM, or CI)
often has only Mesa's llvmpipe. VTK's Linux wheels try X11 first and only then fall back to
EGL, printing a warning; with no display we ask for EGL directly. On a software renderer
multi-sampling roughly halves the frame rate, so it is switched off there (issue 8).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

SOFTWARE_RENDERERS = (
    "llvmpipe",
    "softpipe",
    "swrast",
    "swr",
    "osmesa",
    "mesa offscreen",
    "basic render",
    "gdi generic",
)
ENV_WINDOW = "VTK_DEFAULT_OPENGL_WINDOW"
ENV_MULTISAMPLES = "NOVAMIND_GL_MULTISAMPLES"
HARDWARE_MULTISAMPLES = 4


def prepare_headless() -> str | None:
    """Select VTK's EGL window on Linux when there is no display; return the choice made.

    An explicit ``VTK_DEFAULT_OPENGL_WINDOW`` (e.g. ``vtkOSMesaRenderWindow``) is respected.
    Must run before the first render window is created.
    """
    if not sys.platform.startswith("linux") or os.environ.get(ENV_WINDOW):
        return os.environ.get(ENV_WINDOW)
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    os.environ[ENV_WINDOW] = "vtkEGLRenderWindow"
    return "vtkEGLRenderWindow"


def renderer_string(render_window: vtkRenderWindow) -> str:
    """The ``GL_RENDERER`` string of an initialised VTK render window ('' if unknown)."""
    report = render_window.ReportCapabilities() or ""
    for line in report.splitlines():
        if "renderer string" in line.lower():
            return line.split(":", 1)[1].strip()
    return ""


def is_software_renderer(renderer: str) -> bool:
    """True for Mesa llvmpipe/softpipe/swrast, OSMesa and Windows' basic renderers."""
    low = renderer.lower()
    return any(name in low for name in SOFTWARE_RENDERERS)


def multisamples_for(renderer: str) -> int:
    """MSAA samples: 0 on software (or unknown) OpenGL, 4 on a GPU; the env override wins."""
    override = os.environ.get(ENV_MULTISAMPLES, "").strip()
    if override.isdigit():
        return int(override)
    if not renderer or is_software_renderer(renderer):
        return 0  # unknown counts as software: MSAA off only costs a little smoothness
    return HARDWARE_MULTISAMPLES
