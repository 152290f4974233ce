"""Data preparation, trainers, evaluation and benchmarks (needs torch; never imported by Blender)."""
