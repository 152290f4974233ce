"""Convert the mocap archives (read in place) and/or a folder of BVH files into one training file,
every source's joints converted to the canonical definition (``training.canonical``).

    python -m training.prepare_data --data ../shared/data --cmu-iclone data/mocap/cmu-iclone --out runs/data/mocap.npz
    python -m training.prepare_data --data ../shared/data --out runs/data/mocap.npz   # the shared archives alone
    python -m training.prepare_data --bvh-folder my_bvhs/ --out runs/data/mine.npz
"""
from __future__ import annotations

import argparse
import collections
import os
import time

from tqdm import tqdm

from .canonical import TRUNK, convert_clips
from .datasets import (BANDAI_ARCHIVE, CMU_ARCHIVE, read_bandai, read_bvh_folder, read_cmu_asfamc, read_cmu_daz,
                       read_cmu_iclone, save_clips)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="folder holding the shared mocap archives")
    parser.add_argument("--cmu-iclone", default=None,
                        help="CMU subjects 05-07 exported from iClone (python -m training.fetch_mocap)")
    parser.add_argument("--bvh-folder", default=None, help="a folder of your own BVH files")
    parser.add_argument("--out", required=True)
    parser.add_argument("--keep-source-joints", action="store_true",
                        help="keep each source's own joint definition (for comparisons; training wants canonical)")
    args = parser.parse_args(argv)
    if not args.data and not args.bvh_folder and not args.cmu_iclone:
        parser.error("give --data, --cmu-iclone and/or --bvh-folder")
    if args.cmu_iclone and not os.path.isdir(args.cmu_iclone):
        parser.error(f"{args.cmu_iclone} is not a folder (python -m training.fetch_mocap fetches it)")
    readers = []
    if args.data:
        for archive, reader in [(BANDAI_ARCHIVE, read_bandai), (CMU_ARCHIVE, read_cmu_daz), (CMU_ARCHIVE, read_cmu_asfamc)]:
            path = os.path.join(args.data, archive)
            if not os.path.isfile(path):
                parser.error(f"{path} not found")
            readers.append(reader(path))
    if args.cmu_iclone:
        readers.append(read_cmu_iclone(args.cmu_iclone))
    if args.bvh_folder:
        readers.append(read_bvh_folder(args.bvh_folder))
    start = time.time()
    clips = [clip for reader in readers for clip in tqdm(reader, desc="reading", unit="clip", disable=None)]
    if not clips:
        parser.error("no clips were read")
    if not args.keep_source_joints:
        for source, layout in convert_clips(clips).items():
            print(f"{source}: trunk layout (leg lengths) " + ", ".join(
                f"{name} ({', '.join(f'{v:+.3f}' for v in layout[name])})" for name in TRUNK))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_clips(args.out, clips, "source" if args.keep_source_joints else "canonical")
    frames = collections.Counter()
    for clip in clips:
        frames[clip.subset] += len(clip.positions)
    print(f"{len(clips)} clips in {time.time() - start:.0f} s -> {args.out}; frames per subset: {dict(frames)}")


if __name__ == "__main__":
    main()
