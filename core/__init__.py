"""The lifting engine: plain Python + numpy (torch only for training and the reference model).

Nothing in this package imports ``bpy``; the Blender add-on is a thin layer over it.
Modules that Blender needs at run time (skeleton, camera, weights, inference) import numpy only.
"""
