"""VideoPose Mocap add-on: a thin Blender layer over the vendored ``core`` engine.

``build.py`` copies ``core/`` into this package as ``core`` so that the add-on imports it
relatively and needs nothing from outside but the numpy Blender ships (plus the bundled
mediapipe and OpenCV wheels for detection).
"""
from . import operators, panel, preferences, properties

_modules = (preferences, properties, operators, panel)


def register() -> None:
    for module in _modules:
        module.register()


def unregister() -> None:
    for module in reversed(_modules):
        module.unregister()
