"""VideoPose Mocap add-on: a thin Blender layer over the vendored ``core`` engine.

``build.py`` copies ``core/`` into this package as ``core`` so that the add-on imports it
relatively (``from .core import inference``) and needs nothing but the numpy Blender ships.
"""


def register() -> None:
    pass


def unregister() -> None:
    pass
