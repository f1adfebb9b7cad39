"""The settings of llmos.toml, declared once (sections.py) and checked on load (llmos.config).

    from llmos import config
    settings = config.load().settings
    settings.gateway.requests_per_minute      # typed, checked, defaulted
"""

from llmos.settings.check import ConfigProblem
from llmos.settings.declare import Section, declarations, declared, default_of, setting
from llmos.settings.sections import (
    FREE_FORM,
    SECTIONS,
    AppsSettings,
    CompositorSettings,
    DisplaySettings,
    GatewaySettings,
    InitSettings,
    InputSettings,
    KernelSettings,
    KioskSettings,
    NetworkSettings,
    RegistrySettings,
    SandboxSettings,
    Settings,
    ShellSettings,
    SystemSettings,
    UpdateSettings,
)
from llmos.settings.values import build, defaults, overlay

__all__ = [
    "FREE_FORM", "SECTIONS", "AppsSettings", "CompositorSettings", "ConfigProblem", "DisplaySettings",
    "GatewaySettings", "InitSettings", "InputSettings", "KernelSettings", "KioskSettings", "NetworkSettings",
    "RegistrySettings", "SandboxSettings", "Section", "Settings", "ShellSettings", "SystemSettings",
    "UpdateSettings", "build", "declarations", "declared", "default_of", "defaults", "overlay", "setting",
]
