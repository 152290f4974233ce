"""Third-party rigs to retarget onto, measured: where they come from, how they are built in Blender,
and how far a baked motion is from the lifted joints on each (see ``training.bench_retarget``)."""
